// Benchmark (issue 4 item 7): 32 concurrent clients fetch one uncached 512 MiB wheel through
// freshmirror (`mode: proxy`) and through nginx (`proxy_cache` with `proxy_cache_lock on`), both
// in front of the same local upstream throttled to about 200 MB/s, in the same run. Reports the
// upstream bytes each one pulled (target: exactly one file), when the last client finished
// (target <= 1.2x one uncontended transfer), the 32nd client's time to first byte (target
// < 100 ms), whether every body is complete, and freshmirror's peak RSS. Then, as the machine's
// floor, the same 32 clients fetch the now-cached file from nginx (and, if asked, freshmirror).
//
// Three processes besides the server under test: the upstream (`pull-through-upstream.ts`), the
// clients (`pull-through-clients.ts`, forked afresh per batch) and this one, which only directs.
import { type ChildProcess, fork } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeWheelFile } from "../test/fixtures/wheel-builder.js";
import { createWorkspace } from "../test/helpers/freshmirror-cli.js";
import { type BenchResult, fixed, mib, mibAndMb, renderResult } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";
import { startNginx } from "./nginx.js";
import { processMemory } from "./process-memory.js";
import {
  CLIENTS_CHILD_FLAG,
  type ClientFigures,
  type ClientsJob,
  type ClientsResult,
} from "./pull-through-clients.js";
import { type ProcessUsage, processUsage, usageDelta } from "./pull-through-proc-usage.js";
import { UPSTREAM_CHILD_FLAG, type UpstreamStart, type UpstreamStats } from "./pull-through-upstream.js";

const MIB = 1024 * 1024;
const FILENAME = "bigwheel-1.0-py3-none-any.whl";

export interface PullThroughOptions {
  /** Size of the uncached file; 512 MiB by default. */
  fileBytes?: number;
  clients?: number;
  /** Upstream throttle, bytes per second; 200 MB/s by default. */
  rate?: number;
  /**
   * Then fetch the now-cached file with the same clients: from nginx only (default: the machine's
   * delivery floor), from both, or not at all.
   */
  hitRuns?: "nginx" | "both" | "none";
  log?: (line: string) => void;
}

interface Upstream {
  url: string;
  stats(): Promise<UpstreamStats>;
  stop(): Promise<void>;
}

/** One batch of clients, with what the upstream served meanwhile. */
interface Batch {
  result: ClientsResult;
  fileRequests: number;
  fileBytes: number;
  otherRequests: number;
  /** Seconds the upstream spent on each file transfer during the batch. */
  upstreamSeconds: number[];
  /** What the upstream served during the batch, times in ms after the batch started. */
  served: { path: string; startMs: number; endMs: number }[];
  /** What the server process used during the batch. */
  server: ProcessUsage | undefined;
}

const here = dirname(fileURLToPath(import.meta.url));

function forkChild(script: string, flag: string): ChildProcess {
  // execArgv is set, not inherited: under `node -e` the parent's would re-run the -e code.
  return fork(join(here, script), [flag], {
    execArgv: ["--enable-source-maps"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill("SIGTERM");
  });
}

async function startUpstream(start: UpstreamStart): Promise<Upstream> {
  const child = forkChild("pull-through-upstream.js", UPSTREAM_CHILD_FLAG);
  const url = await new Promise<string>((resolve, reject) => {
    child.once("message", (message: { url?: string; error?: string }) => {
      if (message.url) resolve(message.url);
      else reject(new Error(`upstream failed to start: ${message.error}`));
    });
    child.once("exit", (code) => reject(new Error(`upstream exited with ${code}`)));
    child.send(start);
  });
  return {
    url,
    async stats() {
      const response = await fetch(`${url}/_stats`);
      return (await response.json()) as UpstreamStats;
    },
    stop: () => stopChild(child),
  };
}

function runClients(job: ClientsJob): Promise<ClientsResult> {
  const child = forkChild("pull-through-clients.js", CLIENTS_CHILD_FLAG);
  return new Promise<ClientsResult>((resolve, reject) => {
    child.once("message", (message: { result?: ClientsResult; error?: string }) => {
      if (message.result) resolve(message.result);
      else reject(new Error(`clients failed: ${message.error}`));
    });
    child.once("exit", (code) => reject(new Error(`clients exited with ${code} before answering`)));
    child.send(job);
  });
}

async function batch(upstream: Upstream, job: ClientsJob, serverPid?: number): Promise<Batch> {
  const before = await upstream.stats();
  const usageBefore = serverPid === undefined ? undefined : processUsage(serverPid);
  const result = await runClients(job);
  const usageAfter = serverPid === undefined ? undefined : processUsage(serverPid);
  const after = await upstream.stats();
  const served = after.log.slice(before.log.length);
  const files = served.filter((entry) => entry.path === `/files/${FILENAME}`);
  return {
    result,
    fileRequests: after.fileRequests - before.fileRequests,
    fileBytes: after.fileBytes - before.fileBytes,
    otherRequests: served.length - files.length,
    upstreamSeconds: files.map((entry) => (entry.endMs - entry.startMs) / 1000),
    served: served.map((entry) => ({
      path: entry.path,
      startMs: entry.startMs - result.startEpochMs,
      endMs: entry.endMs - result.startEpochMs,
    })),
    server: usageBefore && usageAfter ? usageDelta(usageBefore, usageAfter) : undefined,
  };
}

/**
 * A few requests for another page through the server, so the timed batch does not pay for the
 * first request a fresh process serves (lazy set-up, a cold upstream connection pool).
 */
async function warmUp(url: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const response = await fetch(url);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`warm-up GET ${url} answered ${response.status}`);
  }
}

/** nginx's worker among the master's children (the cache manager and loader are children too). */
function nginxWorkerPid(masterPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, "utf8")
      .trim()
      .split(/\s+/);
    return children
      .map(Number)
      .find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("worker process"));
  } catch {
    return undefined;
  }
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

interface Summary {
  lastDoneS: number;
  ttfbFirstMs: number;
  ttfbMedianMs: number;
  /** The 32nd client's time to first byte: the largest of them. */
  ttfbLastMs: number;
  ttlbMedianS: number;
  /** The largest time to response headers. */
  headersLastMs: number;
  complete: number;
  hashed: { ok: number; of: number };
  cache: string;
}

function summarize(batch: Batch, size: number, sha256: string): Summary {
  const clients = batch.result.clients;
  const ttfb = clients.map((c) => c.ttfbMs);
  const counts = new Map<string, number>();
  for (const c of clients) counts.set(c.cache || "-", (counts.get(c.cache || "-") ?? 0) + 1);
  const hashedClients = clients.filter((c) => c.sha256 !== undefined);
  return {
    lastDoneS: batch.result.wallMs / 1000,
    ttfbFirstMs: Math.min(...ttfb),
    ttfbMedianMs: quantile(ttfb, 0.5),
    ttfbLastMs: Math.max(...ttfb),
    ttlbMedianS:
      quantile(
        clients.map((c) => c.ttlbMs),
        0.5,
      ) / 1000,
    headersLastMs: Math.max(...clients.map((c) => c.headersMs)),
    complete: clients.filter(
      (c: ClientFigures) => c.status === 200 && c.bytes === size && c.error === undefined,
    ).length,
    hashed: { ok: hashedClients.filter((c) => c.sha256 === sha256).length, of: hashedClients.length },
    cache: [...counts].map(([k, v]) => `${v}× ${k}`).join(", "),
  };
}

/** When the upstream saw each request and when the clients got their first bytes, in ms after the batch started. */
function timeline(name: string, batch: Batch): string {
  const firstBytes = batch.result.clients.map((c) => c.startMs + c.ttfbMs).sort((a, b) => a - b);
  const requests = batch.served.map((entry) => {
    const what = entry.path.startsWith("/files/") ? "file" : entry.path;
    return `${what} requested at ${fixed(entry.startMs, 1)}, sent by ${fixed(entry.endMs, 1)}`;
  });
  return `${name} timeline (ms after the clients started): upstream ${requests.join("; ") || "saw no request"}; first bytes at the clients from ${fixed(firstBytes[0] ?? Number.NaN, 1)} to ${fixed(firstBytes.at(-1) ?? Number.NaN, 1)}.`;
}

function usageRows(batches: [string, string, Batch | undefined][]): string[][] {
  return batches.flatMap(([name, label, b]) => {
    const u = b?.server;
    if (!u) return [];
    const kib = (bytes: number, calls: number) => fixed(bytes / Math.max(1, calls) / 1024, 1);
    return [
      [
        name,
        label,
        fixed(u.cpuSeconds, 1),
        String(u.readCalls),
        kib(u.readBytes, u.readCalls),
        String(u.writeCalls),
        kib(u.writeBytes, u.writeCalls),
      ],
    ];
  });
}

function describeFailures(name: string, batch: Batch, size: number): string[] {
  return batch.result.clients
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.status !== 200 || c.bytes !== size || c.error !== undefined)
    .map(
      ({ c, i }) =>
        `${name}: client ${i} got status ${c.status}, ${c.bytes} of ${size} bytes${c.error ? ` (${c.error})` : ""}`,
    );
}

export async function pullThrough(options: PullThroughOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const payloadBytes = options.fileBytes ?? 512 * MIB;
  const clientCount = options.clients ?? 32;
  const rate = options.rate ?? 200e6;
  const hitRuns = options.hitRuns ?? "nginx";
  // Hashing 32 bodies would cost more CPU than this machine has for the run: the first and the
  // last client hash theirs, every client counts its bytes.
  const hash = [...new Set([0, clientCount - 1])];
  const cleanup = new Cleanup();
  try {
    const loadAtStart = loadavg()[0] ?? Number.NaN;
    const work = mkdtempSync(join(tmpdir(), "fm-bench-pt-"));
    cleanup.defer(() => rmSync(work, { recursive: true, force: true }));
    // A real wheel (a `.whl` must be a complete zip before the mirror keeps it): random,
    // incompressible bytes stored in it, streamed to disk, never held whole.
    log(`building a wheel with ${mib(payloadBytes)} of random bytes in ${work}`);
    const wheel = await writeWheelFile({ project: "bigwheel", version: "1.0", payloadBytes }, work);
    if (wheel.filename !== FILENAME) throw new Error(`built ${wheel.filename}, expected ${FILENAME}`);
    const { path: file, sha256, size } = wheel;

    const upstream = await startUpstream({ file, filename: FILENAME, sha256, size, rate });
    cleanup.defer(() => upstream.stop());
    log(`upstream at ${upstream.url}, ${fixed(rate / 1e6)} MB/s per transfer`);

    // One transfer straight from the upstream, nobody else running: the yardstick (the faster of two).
    const directRuns: number[] = [];
    for (let rep = 0; rep < 2; rep++) {
      const direct = await batch(upstream, {
        url: `${upstream.url}/files/${FILENAME}`,
        clients: 1,
        hash: [0],
      });
      const directClient = direct.result.clients[0];
      if (!directClient || directClient.bytes !== size || directClient.sha256 !== sha256) {
        throw new Error(`the direct transfer from the upstream is wrong: ${JSON.stringify(directClient)}`);
      }
      directRuns.push(directClient.ttlbMs / 1000);
    }
    const uncontendedS = Math.min(...directRuns);
    log(`uncontended transfer: ${fixed(uncontendedS, 2)} s (${fixed(size / uncontendedS / 1e6)} MB/s)`);

    // (a) freshmirror, proxy mode; the file URL is asked for directly, so freshmirror also has to
    // fetch the project page to learn the file's sha256 before it starts the download.
    const ws = createWorkspace({
      mirrors: { p: { type: "pypi", mode: "proxy", upstream: upstream.url, indexes: ["simple"] } },
    });
    cleanup.defer(() => ws.cleanup());
    const server = await ws.serve();
    const serverPid = server.child.pid as number;
    const fmIdle = processMemory(serverPid);
    const fmUrl = `${server.url}/p/files/${FILENAME}`;
    await warmUp(`${server.url}/p/simple/`);
    log(`freshmirror at ${server.url}: ${clientCount} clients, uncached`);
    const fmMiss = await batch(upstream, { url: fmUrl, clients: clientCount, hash }, serverPid);
    const fmMemory = processMemory(serverPid);
    const stored = existsSync(join(ws.dataDir, "blobs", "sha256", sha256.slice(0, 2), sha256));
    let fmHit: Batch | undefined;
    if (hitRuns === "both") {
      log(`freshmirror: ${clientCount} clients, cached`);
      fmHit = await batch(upstream, { url: fmUrl, clients: clientCount, hash }, serverPid);
    }
    const fmPeakAfterHit = processMemory(serverPid);
    await ws.cleanup();

    // (b) nginx: one worker, proxy_cache with the cache lock. proxy_cache_lock_age is raised from
    // its 5 s default as well, or a transfer slower than 5 s lets a second request go upstream.
    const cacheDir = mkdtempSync(join(tmpdir(), "fm-bench-pt-nginx-cache-"));
    cleanup.defer(() => rmSync(cacheDir, { recursive: true, force: true }));
    const nginx = await startNginx({
      root: work,
      httpExtra: `proxy_cache_path ${cacheDir} levels=1:2 keys_zone=pt:10m max_size=8g inactive=1h use_temp_path=off;`,
      serverExtra: `location / {
      proxy_pass ${upstream.url};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache pt;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10m;
      proxy_cache_lock_age 10m;
      proxy_cache_valid 200 1h;
      proxy_buffering on;
      add_header X-Cache-Status $upstream_cache_status always;
    }`,
    });
    cleanup.defer(() => nginx.stop());
    const ngUrl = `${nginx.url}/files/${FILENAME}`;
    const workerPid = nginxWorkerPid(nginx.pid);
    await warmUp(`${nginx.url}/simple/`);
    log(`nginx at ${nginx.url}: ${clientCount} clients, uncached`);
    const ngMiss = await batch(upstream, { url: ngUrl, clients: clientCount, hash }, workerPid);
    const ngMissMemory = workerPid === undefined ? undefined : processMemory(workerPid);
    let ngHit: Batch | undefined;
    if (hitRuns !== "none") {
      log(`nginx: ${clientCount} clients, cached`);
      ngHit = await batch(upstream, { url: ngUrl, clients: clientCount, hash }, workerPid);
    }
    const ngMemory = workerPid === undefined ? undefined : processMemory(workerPid);
    await nginx.stop();

    const fm = summarize(fmMiss, size, sha256);
    const ng = summarize(ngMiss, size, sha256);
    const row = (name: string, b: Batch, s: Summary): string[] => [
      name,
      `${b.fileRequests} GET, ${mibAndMb(b.fileBytes)}`,
      b.upstreamSeconds.map((x) => fixed(x, 2)).join(", ") || "-",
      fixed(s.lastDoneS, 2),
      fixed(s.lastDoneS / uncontendedS, 2),
      fixed(s.ttfbFirstMs, 1),
      fixed(s.ttfbMedianMs, 1),
      fixed(s.ttfbLastMs, 1),
      fixed(s.ttlbMedianS, 2),
      `${s.complete}/${clientCount}; sha256 ${s.hashed.ok}/${s.hashed.of}`,
      b.server ? fixed(b.server.cpuSeconds, 1) : "n/a",
      s.cache,
    ];
    const columns = [
      "server",
      "upstream file transfers",
      "upstream transfer s",
      "last client done s",
      "× uncontended",
      "TTFB first ms",
      "TTFB median ms",
      "TTFB 32nd ms",
      "median client done s",
      "complete bodies",
      "server CPU s",
      "cache header",
    ];
    const hitRows: string[][] = [];
    if (fmHit) hitRows.push(row("freshmirror", fmHit, summarize(fmHit, size, sha256)));
    if (ngHit) hitRows.push(row("nginx", ngHit, summarize(ngHit, size, sha256)));

    const notes = [
      ...describeFailures("freshmirror", fmMiss, size),
      ...describeFailures("nginx", ngMiss, size),
      `freshmirror ${stored ? "kept" : "did NOT keep"} the verified blob in its store after the uncached run; it holds back every body's last byte until the sha256 matched, so a complete body is a verified one.`,
      `freshmirror also fetched ${fmMiss.otherRequests} index page(s) from the upstream (the file URL was asked for directly, so it read the project page for the sha256 first); nginx sent ${ngMiss.otherRequests} other request(s).`,
      "TTFB is measured from each client's request to its first body byte; the 32nd is the largest of the 32. Times are from one run.",
      timeline("freshmirror", fmMiss),
      timeline("nginx", ngMiss),
      `Response headers, slowest of the ${clientCount}: freshmirror ${fixed(fm.headersLastMs, 1)} ms, nginx ${fixed(ng.headersLastMs, 1)} ms.`,
      `1-minute load average ${fixed(loadAtStart, 2)} at the start and ${fixed(loadavg()[0] ?? Number.NaN, 2)} at the end, on ${availableParallelism()} CPUs (other work on the machine skews every figure).`,
    ];
    const delivered = (clientCount * size) / 1e9;
    if (hitRows.length > 0) {
      notes.push(
        `The cached runs show what this machine needs just to deliver ${clientCount} × ${mib(size)} (${fixed(delivered)} GB) over loopback with the clients on the same CPUs: a floor under "last client done" that no pull-through can beat here, whatever the upstream.`,
      );
    }
    if (ngHit) {
      const floorS = ngHit.result.wallMs / 1000;
      notes.push(
        `Against that floor (nginx serving the cached file, ${fixed(floorS, 2)} s): freshmirror uncached ${fixed(fm.lastDoneS / floorS, 2)}×, nginx uncached ${fixed(ng.lastDoneS / floorS, 2)}×.`,
      );
    }

    const fmTargetS = 1.2 * uncontendedS;
    return {
      name: "pull-through",
      title: `pull-through: ${clientCount} clients, one uncached ${mib(size)} file`,
      setup: `One ${mib(size)} wheel of random stored bytes (\`${FILENAME}\`, a complete zip, listed with its sha256 on a PEP 503 page) served by a local node:http upstream in its own process, throttled to ${fixed(rate / 1e6)} MB/s per transfer (token bucket, backpressure honoured). One uncontended transfer straight from it took ${fixed(uncontendedS, 2)} s, ${fixed(size / uncontendedS / 1e6)} MB/s (the faster of ${directRuns.map((x) => fixed(x, 2)).join(" s and ")} s). Then ${clientCount} clients (one connection each, all sent in the same tick from a separate process, every body counted, the first and last client's also hashed) fetch the file through freshmirror (\`mode: proxy\`, child process, warmed up with a GET of the project list, then the file URL asked for directly) and, in the same run, through nginx (one worker, \`proxy_cache\`, \`proxy_cache_lock on\`, \`proxy_cache_lock_timeout 10m\`, \`proxy_cache_lock_age 10m\`, \`proxy_cache_valid 200 1h\`, \`proxy_buffering on\`, warmed up the same way). Upstream figures come from the upstream's own request log. MB = 10^6 bytes.`,
      tables: [
        {
          title: `Uncached: ${clientCount} concurrent clients (target: 1 upstream transfer, last client <= ${fixed(fmTargetS, 2)} s, TTFB of the 32nd < 100 ms)`,
          columns,
          rows: [row("freshmirror", fmMiss, fm), row("nginx", ngMiss, ng)],
        },
        ...(hitRows.length > 0
          ? [
              {
                title: `Cached afterwards: the same ${clientCount} clients (delivery floor)`,
                columns,
                rows: hitRows,
              },
            ]
          : []),
        {
          title:
            "Server process during each batch (from /proc: CPU time, read/write-family system calls on files and sockets)",
          columns: ["server", "batch", "CPU s", "read calls", "KiB per read", "write calls", "KiB per write"],
          rows: usageRows([
            ["freshmirror", "uncached", fmMiss],
            ["freshmirror", "cached", fmHit],
            ["nginx worker", "uncached", ngMiss],
            ["nginx worker", "cached", ngHit],
          ]),
        },
        {
          title: "Memory",
          columns: [
            "process",
            "RSS after start",
            "peak RSS (VmHWM) after the uncached run",
            "peak RSS (VmHWM) after the cached run",
          ],
          rows: [
            [
              "freshmirror serve",
              mibAndMb(fmIdle.rss),
              mibAndMb(fmMemory.peakRss),
              fmHit ? mibAndMb(fmPeakAfterHit.peakRss) : "-",
            ],
            [
              "nginx worker",
              "",
              ngMissMemory ? mibAndMb(ngMissMemory.peakRss) : "n/a",
              ngHit && ngMemory ? mibAndMb(ngMemory.peakRss) : "-",
            ],
          ],
        },
      ],
      notes,
      targets: {
        [`freshmirror: exactly one file from upstream (${fmMiss.fileRequests} GET, ${fmMiss.fileBytes} bytes)`]:
          fmMiss.fileRequests === 1 && fmMiss.fileBytes === size,
        [`freshmirror: last client done <= 1.2 × uncontended (${fixed(fm.lastDoneS, 2)} s vs ${fixed(fmTargetS, 2)} s)`]:
          fm.lastDoneS <= fmTargetS,
        [`freshmirror: TTFB of the 32nd client < 100 ms (${fixed(fm.ttfbLastMs, 1)} ms)`]:
          fm.ttfbLastMs < 100,
        [`freshmirror: all ${clientCount} bodies complete (${fm.complete}/${clientCount})`]:
          fm.complete === clientCount && fm.hashed.ok === fm.hashed.of,
        [`nginx: exactly one file from upstream (${ngMiss.fileRequests} GET, ${ngMiss.fileBytes} bytes)`]:
          ngMiss.fileRequests === 1 && ngMiss.fileBytes === size,
        [`nginx: last client done <= 1.2 × uncontended (${fixed(ng.lastDoneS, 2)} s)`]:
          ng.lastDoneS <= fmTargetS,
        [`nginx: TTFB of the 32nd client < 100 ms (${fixed(ng.ttfbLastMs, 1)} ms)`]: ng.ttfbLastMs < 100,
      },
    };
  } finally {
    await cleanup.run();
  }
}

/** Runs the benchmark and prints its tables (markdown, for BENCHMARKS.md). */
export async function run(options: PullThroughOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`bench: pull-through: ${line}\n`));
  const started = performance.now();
  const result = await pullThrough({ ...options, log });
  log(`done in ${fixed((performance.now() - started) / 1000)} s`);
  process.stdout.write(`${renderResult(result)}\n`);
}
