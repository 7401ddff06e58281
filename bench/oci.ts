// Benchmark (issue 10 item 10): freshmirror as an OCI registry mirror against Debian's
// docker-registry (CNCF distribution 2.8) as a pull-through cache (`proxy.remoteurl`), in the same
// run, both in front of the same upstream: a plain docker-registry on loopback holding images with
// one layer of 256 MiB+ (random bytes, so gzip keeps the size).
//
// - cold and warm `skopeo copy docker://<mirror>/<image> dir:<tmp>` (wall time; ratio to
//   distribution; targets cold <= 1.1x, warm <= 1.0x);
// - 8 and 16 concurrent cold GETs of one uncached layer (curl processes started together, after
//   the image's manifest was fetched once, as a client resolves before it pulls): how many times
//   each mirror fetched that layer from the upstream (target 1), the worst time to first layer
//   byte, whether every body was whole, and the peak RSS of the mirror process during the storm
//   (VmHWM, reset with /proc/<pid>/clear_refs before it).
//
// Upstream requests are counted by a recording HTTP pass-through (test/oci/recording-proxy.ts)
// in front of the upstream, one per mirror, so both pay the same extra hop.
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { request } from "undici";
import { createWorkspace } from "../test/helpers/freshmirror-cli.js";
import { dockerRegistrySkipReason, startDockerRegistry } from "../test/oci/docker-registry.js";
import { buildOciLayout } from "../test/oci/oci-layout-builder.js";
import { type RecordingProxy, startRecordingProxy } from "../test/oci/recording-proxy.js";
import { skopeoPushLayout } from "../test/oci/skopeo.js";
import { type BenchResult, fixed, median, mib, mibAndMb } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";
import { processMemory } from "./process-memory.js";

const exec = promisify(execFile);
const MIB = 1024 * 1024;
const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface OciBenchOptions {
  /** Uncompressed size of the big layer's file; 256 MiB + a little by default. */
  layerBytes?: number;
  /** Concurrent cold pulls, one storm each. */
  storms?: number[];
  /** Warm copies per mirror (the median is reported). */
  warmRuns?: number;
  log?: (line: string) => void;
}

interface Mirror {
  name: string;
  /** host:port clients use. */
  host: string;
  url: string;
  pid: number;
  /** The pass-through between this mirror and the upstream. */
  upstreamLog: RecordingProxy;
}

interface BenchImage {
  name: string;
  tag: string;
  digest: string;
  layer: { digest: string; size: number };
}

interface StormClient {
  status: number;
  bytes: number;
  ttfbMs: number;
  totalMs: number;
  /** The X-Cache answer header (freshmirror: MISS, COALESCED or HIT), or "-". */
  cache: string;
}

interface Storm {
  clients: StormClient[];
  wallMs: number;
  layerGets: number;
  layerHeads: number;
  layerBytesFromUpstream: number;
  otherUpstreamRequests: number;
  peakRss: number;
  /** Resident set just before the storm. */
  rssBefore: number;
}

async function skopeoCopy(host: string, image: BenchImage, work: string): Promise<number> {
  const dest = mkdtempSync(join(work, "copy-"));
  const policy = join(work, "policy.json");
  if (!existsSync(policy))
    writeFileSync(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  const started = performance.now();
  try {
    await exec(
      "skopeo",
      [
        "copy",
        "--policy",
        policy,
        "--src-tls-verify=false",
        `docker://${host}/${image.name}:${image.tag}`,
        `dir:${dest}`,
      ],
      { env: { ...process.env, HOME: work, TMPDIR: work }, timeout: 900_000, maxBuffer: 16 * MIB },
    );
    return (performance.now() - started) / 1000;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`skopeo copy from ${host} failed: ${e.stderr?.trim() || e.message}`);
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}

/** One GET of the image's manifest through the mirror, as a client resolves the tag. */
async function resolve(mirror: Mirror, image: BenchImage): Promise<void> {
  const res = await request(`${mirror.url}/v2/${image.name}/manifests/${image.tag}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  await res.body.dump();
  if (res.statusCode !== 200)
    throw new Error(`${mirror.name}: manifest ${image.name}:${image.tag} answered ${res.statusCode}`);
}

function curlOnce(url: string): Promise<StormClient> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      "curl",
      [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        // %header{} needs curl 7.84 (Debian 12 has 7.88).
        "%{http_code} %{size_download} %{time_starttransfer} %{time_total} x%header{x-cache}",
        url,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", reject);
    child.on("close", () => {
      const fields = out.trim().split(" ");
      const [status, bytes, ttfb, total] = fields.slice(0, 4).map(Number);
      resolvePromise({
        status: status ?? 0,
        bytes: bytes ?? 0,
        ttfbMs: (ttfb ?? Number.NaN) * 1000,
        totalMs: (total ?? Number.NaN) * 1000,
        cache: (fields[4] ?? "x").slice(1) || "-",
      });
    });
  });
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, needs the owner or root). */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

async function storm(mirror: Mirror, image: BenchImage, clients: number): Promise<Storm> {
  await resolve(mirror, image);
  const before = mirror.upstreamLog.requests.length;
  resetPeakRss(mirror.pid);
  const rssBefore = processMemory(mirror.pid).rss;
  const url = `${mirror.url}/v2/${image.name}/blobs/${image.layer.digest}`;
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, () => curlOnce(url)));
  const wallMs = performance.now() - started;
  const peakRss = processMemory(mirror.pid).peakRss;
  // A mirror may still be fetching after its clients are served (distribution finishes
  // abandoned copies): count what reaches the upstream until it goes quiet.
  await mirror.upstreamLog.settle(2000);
  const seen = mirror.upstreamLog.requests.slice(before);
  const layerPath = `/blobs/${image.layer.digest}`;
  const layer = seen.filter((r) => r.url.split("?")[0]?.endsWith(layerPath));
  return {
    clients: results,
    wallMs,
    layerGets: layer.filter((r) => r.method === "GET").length,
    layerHeads: layer.filter((r) => r.method === "HEAD").length,
    layerBytesFromUpstream: layer.reduce((n, r) => n + r.bytes, 0),
    otherUpstreamRequests: seen.length - layer.length,
    peakRss,
    rssBefore,
  };
}

/** sha256 of the layer as the mirror serves it now (cached), streamed. */
async function servedDigest(mirror: Mirror, image: BenchImage): Promise<string> {
  const res = await request(`${mirror.url}/v2/${image.name}/blobs/${image.layer.digest}`);
  if (res.statusCode !== 200) {
    await res.body.dump();
    return `status ${res.statusCode}`;
  }
  const hash = createHash("sha256");
  for await (const chunk of res.body) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

async function buildAndPush(
  work: string,
  upstreamHost: string,
  name: string,
  layerBytes: number,
  log: (line: string) => void,
): Promise<BenchImage> {
  const dir = join(work, `layout-${name.replaceAll("/", "-")}`);
  log(`building ${name}:1 (a ${mib(layerBytes)} layer of random bytes, gzip) and pushing it upstream`);
  const layout = await buildOciLayout({
    dir,
    tag: "1",
    platforms: [{ os: "linux", architecture: "amd64" }],
    layerSizes: [layerBytes, 4096],
    seed: `bench-oci-${name}`,
  });
  await skopeoPushLayout(dir, "1", upstreamHost, name, "1", { dir: work });
  rmSync(dir, { recursive: true, force: true });
  const big = layout.images[0]?.layers[0];
  if (!big) throw new Error("the layout has no layer");
  return { name, tag: "1", digest: layout.digest, layer: big };
}

function cacheCounts(clients: StormClient[]): string {
  const counts = new Map<string, number>();
  for (const c of clients) counts.set(c.cache, (counts.get(c.cache) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n}× ${k}`).join(", ");
}

function stormRow(name: string, clients: number, s: Storm, size: number): string[] {
  const whole = s.clients.filter((c) => c.status === 200 && c.bytes === size).length;
  return [
    name,
    String(clients),
    `${s.layerGets} GET${s.layerHeads ? ` + ${s.layerHeads} HEAD` : ""}`,
    mibAndMb(s.layerBytesFromUpstream),
    fixed(Math.max(...s.clients.map((c) => c.ttfbMs)), 0),
    fixed(median(s.clients.map((c) => c.ttfbMs)), 0),
    fixed(s.wallMs / 1000, 2),
    `${whole}/${clients}`,
    cacheCounts(s.clients),
    mib(s.rssBefore),
    mib(s.peakRss),
  ];
}

export async function ociBench(options: OciBenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const skip = dockerRegistrySkipReason();
  if (skip) throw new Error(`cannot run: ${skip}`);
  const layerBytes = options.layerBytes ?? 256 * MIB + 4321;
  const storms = options.storms ?? [8, 16];
  const warmRuns = options.warmRuns ?? 3;
  const cleanup = new Cleanup();
  try {
    const loadAtStart = loadavg()[0] ?? Number.NaN;
    const work = mkdtempSync(join(tmpdir(), "fm-bench-oci-"));
    cleanup.defer(() => rmSync(work, { recursive: true, force: true }));
    const upstream = await startDockerRegistry({ dir: join(work, "upstream") });
    cleanup.defer(() => upstream.stop());

    const copyImage = await buildAndPush(work, upstream.host, "bench/copy", layerBytes, log);
    const stormImages = new Map<number, BenchImage>();
    for (const n of storms)
      stormImages.set(n, await buildAndPush(work, upstream.host, `bench/storm${n}`, layerBytes, log));

    // freshmirror: one OCI mirror named for Docker Hub, so `/v2/<name>/...` without `ns` reaches it.
    const fmLog = await startRecordingProxy(upstream.url);
    cleanup.defer(() => fmLog.close());
    const ws = createWorkspace({
      mirrors: { hub: { type: "oci", upstream: fmLog.url, registry: "docker.io" } },
    });
    cleanup.defer(() => ws.cleanup());
    const serve = await ws.serve();
    const fm: Mirror = {
      name: "freshmirror",
      host: new URL(serve.url).host,
      url: serve.url,
      pid: serve.child.pid as number,
      upstreamLog: fmLog,
    };

    const distLog = await startRecordingProxy(upstream.url);
    cleanup.defer(() => distLog.close());
    const proxy = await startDockerRegistry({ dir: join(work, "proxy"), proxy: { remoteUrl: distLog.url } });
    cleanup.defer(() => proxy.stop());
    const dist: Mirror = {
      name: "docker-registry proxy",
      host: proxy.host,
      url: proxy.url,
      pid: proxy.pid,
      upstreamLog: distLog,
    };
    const mirrors = [fm, dist];
    for (const m of mirrors) {
      const res = await request(`${m.url}/v2/`);
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${m.name}: GET /v2/ answered ${res.statusCode}`);
    }

    log("skopeo copy straight from the upstream (the yardstick)");
    const direct: number[] = [];
    for (let i = 0; i < warmRuns; i++) direct.push(await skopeoCopy(upstream.host, copyImage, work));

    // Cold, then warm, alternating the mirrors so load on the machine falls on both.
    const cold = new Map<Mirror, number>();
    const coldGets = new Map<Mirror, number>();
    for (const m of mirrors) {
      log(`${m.name}: cold skopeo copy`);
      const before = m.upstreamLog.requests.length;
      cold.set(m, await skopeoCopy(m.host, copyImage, work));
      await m.upstreamLog.settle();
      coldGets.set(
        m,
        m.upstreamLog.requests
          .slice(before)
          .filter((r) => r.method === "GET" && r.url.includes(`/blobs/${copyImage.layer.digest}`)).length,
      );
    }
    const warm = new Map<Mirror, number[]>(mirrors.map((m) => [m, []]));
    const warmUpstream = new Map<Mirror, number>(mirrors.map((m) => [m, 0]));
    for (let i = 0; i < warmRuns; i++) {
      for (const m of mirrors) {
        log(`${m.name}: warm skopeo copy ${i + 1}/${warmRuns}`);
        const before = m.upstreamLog.requests.length;
        warm.get(m)?.push(await skopeoCopy(m.host, copyImage, work));
        await m.upstreamLog.settle();
        const layerGets = m.upstreamLog.requests
          .slice(before)
          .filter((r) => r.method === "GET" && r.url.includes("/blobs/")).length;
        warmUpstream.set(m, (warmUpstream.get(m) ?? 0) + layerGets);
      }
    }

    const stormResults = new Map<string, Storm>();
    const digestsOk = new Map<string, boolean>();
    for (const n of storms) {
      const image = stormImages.get(n) as BenchImage;
      for (const m of mirrors) {
        log(`${m.name}: ${n} concurrent cold pulls of ${image.name}'s ${mib(image.layer.size)} layer`);
        stormResults.set(`${m.name}:${n}`, await storm(m, image, n));
        digestsOk.set(`${m.name}:${n}`, (await servedDigest(m, image)) === image.layer.digest);
      }
    }

    const directS = median(direct);
    const fmCold = cold.get(fm) as number;
    const distCold = cold.get(dist) as number;
    const fmWarm = median(warm.get(fm) as number[]);
    const distWarm = median(warm.get(dist) as number[]);
    const copyRows = mirrors.map((m) => [
      m.name,
      fixed(cold.get(m) as number, 2),
      String(coldGets.get(m)),
      (warm.get(m) as number[]).map((x) => fixed(x, 2)).join(", "),
      fixed(median(warm.get(m) as number[]), 2),
      String(warmUpstream.get(m)),
    ]);
    copyRows.push([
      "straight from the upstream",
      "-",
      "-",
      direct.map((x) => fixed(x, 2)).join(", "),
      fixed(directS, 2),
      "-",
    ]);

    const stormRows: string[][] = [];
    for (const n of storms)
      for (const m of mirrors)
        stormRows.push(
          stormRow(
            m.name,
            n,
            stormResults.get(`${m.name}:${n}`) as Storm,
            stormImages.get(n)?.layer.size ?? 0,
          ),
        );

    const targets: Record<string, boolean> = {
      [`cold skopeo copy: freshmirror <= 1.1x docker-registry proxy (${fixed(fmCold / distCold, 2)}x)`]:
        fmCold <= 1.1 * distCold,
      [`warm skopeo copy: freshmirror <= 1.0x docker-registry proxy (${fixed(fmWarm / distWarm, 2)}x)`]:
        fmWarm <= distWarm,
    };
    for (const n of storms) {
      const s = stormResults.get(`${fm.name}:${n}`) as Storm;
      targets[
        `${n} concurrent cold pulls: freshmirror fetched the layer from upstream once (${s.layerGets} GET)`
      ] = s.layerGets === 1;
      const whole = s.clients.every((c) => c.status === 200 && c.bytes === stormImages.get(n)?.layer.size);
      targets[`${n} concurrent cold pulls: every freshmirror client got the whole layer`] = whole;
    }

    const notes: string[] = [];
    const ratioLine = storms
      .map((n) => {
        const f = stormResults.get(`${fm.name}:${n}`) as Storm;
        const d = stormResults.get(`${dist.name}:${n}`) as Storm;
        const worst = (s: Storm) => Math.max(...s.clients.map((c) => c.ttfbMs));
        return `${n} clients: upstream layer GETs ${f.layerGets} vs ${d.layerGets}, worst time to first byte ${fixed(worst(f) / worst(d), 2)}x, storm wall time ${fixed(f.wallMs / d.wallMs, 2)}x, peak RSS ${fixed(f.peakRss / d.peakRss, 2)}x`;
      })
      .join("; ");
    notes.push(
      `Ratios freshmirror / docker-registry proxy: cold copy ${fixed(fmCold / distCold, 2)}x, warm copy ${fixed(fmWarm / distWarm, 2)}x; ${ratioLine}.`,
      `Layer bytes served after each storm hashed to the layer digest: ${[...digestsOk].map(([k, ok]) => `${k} ${ok ? "yes" : "NO"}`).join(", ")}.`,
      `Peak RSS is VmHWM of the mirror process, reset through /proc/<pid>/clear_refs just before the storm (freshmirror: the \`serve\` node process; distribution: the registry process).`,
      `1-minute load average ${fixed(loadAtStart, 2)} at the start and ${fixed(loadavg()[0] ?? Number.NaN, 2)} at the end, on ${availableParallelism()} CPUs; everything (upstream, both mirrors, pass-throughs, clients) shares them.`,
    );
    return {
      name: "oci",
      title: `oci: registry mirror vs docker-registry proxy, ${mib(layerBytes)} layer`,
      setup: `Upstream: Debian's docker-registry (${(await registryVersion()) ?? "distribution"}) on loopback with temp storage, holding ${1 + storms.length} single-platform images (\`bench/copy:1\`, ${storms.map((n) => `\`bench/storm${n}:1\``).join(", ")}), each a 4 KiB layer and one layer of ${mib(layerBytes)} random bytes as a gzip tar (${mibAndMb(copyImage.layer.size)} compressed), pushed with skopeo. Mirrors, same run, same upstream: freshmirror (\`type: oci\`, \`registry: docker.io\`, child process \`serve\`) and docker-registry with \`proxy.remoteurl\`; each reaches the upstream through its own recording HTTP pass-through that counts requests and bytes. Copies: \`skopeo copy docker://<mirror>/bench/copy:1 dir:<tmp>\` (plain HTTP), cold once then warm ${warmRuns} times, the mirrors alternating. Storms: the manifest fetched once through the mirror, then N \`curl\` processes started together GET the uncached layer blob to /dev/null; TTFB is curl's time_starttransfer.`,
      tables: [
        {
          title:
            "skopeo copy of the image (wall time, s; target: cold <= 1.1x, warm <= 1.0x docker-registry proxy)",
          columns: [
            "mirror",
            "cold s",
            "cold: upstream layer GETs",
            "warm runs s",
            "warm median s",
            "warm: upstream blob GETs",
          ],
          rows: copyRows,
        },
        {
          title: "Concurrent cold pulls of one layer (target: 1 upstream layer GET)",
          columns: [
            "mirror",
            "clients",
            "upstream layer requests",
            "layer bytes from upstream",
            "worst TTFB ms",
            "median TTFB ms",
            "last client done s",
            "whole bodies",
            "X-Cache",
            "RSS before",
            "peak RSS during the storm",
          ],
          rows: stormRows,
        },
      ],
      notes,
      targets,
    };
  } finally {
    await cleanup.run();
  }
}

async function registryVersion(): Promise<string | undefined> {
  try {
    // dpkg-query's own field syntax, not a JavaScript template.
    const { stdout } = await exec("dpkg-query", ["-W", "-f", "$" + "{Version}", "docker-registry"]);
    return `distribution ${stdout.trim()}`;
  } catch {
    return undefined;
  }
}
