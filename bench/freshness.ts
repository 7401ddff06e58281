// Benchmark of issue 5 item 7, freshness:
// (a) publication → installable: the real `freshmirror serve` watches the fixture upstream with
//     `watch: 5s`; releases are published there at random moments, and the time until the mirror's
//     project page lists the new wheel and the wheel's URL answers 200 is measured (polled every
//     25 ms), then `pip download --no-deps` of that version is run against the mirror and timed too.
//     The serve log's timestamps split each figure into detection (the watcher saw the change) and
//     the targeted sync.
// (b) the cost of one watch cycle over 200 unchanged projects: an in-process `Watcher.pollOnce`
//     against the fixture upstream behind a byte-counting TCP relay, so request and response bytes
//     are those on the wire (headers included); the fixture's log gives requests and statuses.
// Run alone with `node --enable-source-maps dist/bench/freshness.js`, or through bench/run.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { App } from "../src/app/app.js";
import { parseConfigText } from "../src/app/load-config.js";
import { syncMirror } from "../src/sync/run-lifecycle.js";
import { type WatchCycle, Watcher } from "../src/sync/watcher.js";
import { type PublishResult, startPypiUpstream } from "../test/fixtures/pypi-upstream.js";
import { createWorkspace, type RunningServe } from "../test/helpers/freshmirror-cli.js";
import { runPip } from "../test/helpers/pip.js";
import { type BenchResult, fixed, median, renderResult } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";

export interface FreshnessOptions {
  /** Releases published in (a). Default 10. */
  releases?: number;
  /** The mirror's `watch:` interval in (a), in seconds. Default 5. */
  watchSeconds?: number;
  /** Other watched projects beside the one that gets releases, in (a). Default 19. */
  otherProjects?: number;
  /** Unchanged projects watched in (b). Default 200. */
  cycleProjects?: number;
  /** Run `pip download` after each release. Default true. */
  pip?: boolean;
  log?: (line: string) => void;
}

interface ReleaseTiming {
  version: string;
  size: number;
  /** Publication → the watcher logged the change (from the serve log), ms. */
  detectMs: number | undefined;
  /** Watcher saw it → the scheduler logged the targeted run's success, ms. */
  syncMs: number | undefined;
  /** Publication → page lists the file and the file answers 200, ms. */
  visibleMs: number;
  /** The file GET that confirmed it (transfer of the wheel from the mirror), ms. */
  fileGetMs: number;
  /** pip download run time alone, started once the page listed the file, ms. */
  pipMs: number | undefined;
}

type FreshmirrorBenchLog = { log: (line: string) => void };

const PROJECT = "freshpkg";
const JSON_ACCEPT = "application/vnd.pypi.simple.v1+json";

/** Timestamps of serve log lines (`<ISO time> <line>`) matching `pattern`, at or after `since`. */
function logTimes(output: string, pattern: RegExp, since: number): number[] {
  const times: number[] = [];
  for (const line of output.split("\n")) {
    const at = Date.parse(line.slice(0, 24));
    if (Number.isFinite(at) && at >= since && pattern.test(line.slice(25))) times.push(at);
  }
  return times;
}

/** Polls the mirror until its page lists `filename` and the file answers 200; returns ms timings. */
async function waitUntilServed(
  pageUrl: string,
  filename: string,
  publishedAt: number,
  timeoutMs: number,
): Promise<{ visibleMs: number; fileGetMs: number }> {
  const deadline = publishedAt + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(pageUrl, { headers: { accept: JSON_ACCEPT } });
    if (res.status === 200) {
      const page = (await res.json()) as { files: { filename: string; url: string }[] };
      const file = page.files.find((f) => f.filename === filename);
      if (file !== undefined) {
        const getStarted = Date.now();
        const got = await fetch(new URL(file.url, pageUrl));
        await got.arrayBuffer();
        const done = Date.now();
        if (got.status === 200) return { visibleMs: done - publishedAt, fileGetMs: done - getStarted };
      }
    } else {
      await res.arrayBuffer();
    }
    await sleep(25);
  }
  throw new Error(`${filename} was not served by the mirror within ${timeoutMs} ms of its publication`);
}

async function publicationToInstallable(
  options: FreshmirrorBenchLog & FreshnessOptions,
  cleanup: Cleanup,
): Promise<{ timings: ReleaseTiming[]; server: RunningServe; watchSeconds: number; pages: number }> {
  const log = options.log;
  const watchSeconds = options.watchSeconds ?? 5;
  const releases = options.releases ?? 10;
  const others = Array.from({ length: options.otherProjects ?? 19 }, (_, i) => `other-${i}`);
  const upstream = await startPypiUpstream({ indexes: ["simple"] });
  cleanup.defer(() => upstream.close());
  await upstream.publishAll(
    [PROJECT, ...others].map((project) => ({ index: "simple", project, version: "1.0.0" })),
  );
  const ws = createWorkspace({
    mirrors: {
      fresh: {
        type: "pypi",
        upstream: upstream.url,
        indexes: ["simple"],
        projects: [PROJECT, ...others],
        schedule: "0 3 1 1 *",
        watch: `${watchSeconds}s`,
        retry_backoff: "10ms",
      },
    },
  });
  cleanup.defer(() => ws.cleanup());
  const sync = await ws.cli(["sync", "fresh"]);
  if (sync.code !== 0) throw new Error(`initial sync failed (${sync.code}): ${sync.stderr}`);
  const server = await ws.serve();
  const pageUrl = `${server.url}/fresh/simple/${PROJECT}/`;
  const pipDir = mkdtempSync(join(tmpdir(), "fm-bench-fresh-pip-"));
  cleanup.defer(() => rmSync(pipDir, { recursive: true, force: true }));

  const timings: ReleaseTiming[] = [];
  for (let i = 1; i <= releases; i++) {
    // A random moment within one watch period, so the release lands anywhere in the poll cycle.
    await sleep(Math.random() * watchSeconds * 1000);
    const version = `1.0.${i}`;
    const [published] = (await upstream.publishAll([{ index: "simple", project: PROJECT, version }])) as [
      PublishResult,
    ];
    const publishedAt = Date.now();
    const { visibleMs, fileGetMs } = await waitUntilServed(
      pageUrl,
      published.filename,
      publishedAt,
      (watchSeconds + 30) * 1000,
    );
    let pipMs: number | undefined;
    if (options.pip !== false) {
      const started = Date.now();
      const pip = await runPip([
        "download",
        "--no-deps",
        "--index-url",
        `${server.url}/fresh/simple`,
        "--dest",
        join(pipDir, version),
        `${PROJECT}==${version}`,
      ]);
      if (pip.code !== 0) throw new Error(`pip download ${PROJECT}==${version} failed: ${pip.stderr}`);
      pipMs = Date.now() - started;
    }
    // The serve log lines are written before the page is served, so they are there by now.
    const seen = logTimes(
      server.output(),
      new RegExp(`simple/${PROJECT} changed upstream`),
      publishedAt - 5,
    )[0];
    const synced =
      seen === undefined
        ? undefined
        : logTimes(server.output(), /scheduler: fresh: watch run success/, seen)[0];
    const timing: ReleaseTiming = {
      version,
      size: published.size,
      detectMs: seen === undefined ? undefined : Math.max(0, seen - publishedAt),
      syncMs: seen === undefined || synced === undefined ? undefined : synced - seen,
      visibleMs,
      fileGetMs,
      pipMs,
    };
    timings.push(timing);
    log(
      `release ${version}: served after ${fixed(visibleMs / 1000, 2)} s` +
        (pipMs === undefined ? "" : `, pip download ${fixed(pipMs / 1000, 2)} s`),
    );
  }
  return { timings, server, watchSeconds, pages: others.length + 1 };
}

interface WireCounts {
  connections: number;
  requestBytes: number;
  responseBytes: number;
}

/** A TCP relay to `port` that counts the bytes each way, so header bytes are counted too. */
async function startCountingRelay(
  port: number,
): Promise<{ url: string; counts: WireCounts; close(): Promise<void> }> {
  const counts: WireCounts = { connections: 0, requestBytes: 0, responseBytes: 0 };
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((client) => {
    counts.connections++;
    const upstream = connect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.on("data", (chunk: Buffer) => {
      counts.requestBytes += chunk.length;
    });
    upstream.on("data", (chunk: Buffer) => {
      counts.responseBytes += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const relayPort = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${relayPort}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface CycleCost {
  label: string;
  cycle: WatchCycle;
  wire: WireCounts;
  statuses: Map<number, number>;
  conditional: number;
  upstreamRequests: number;
  ms: number;
}

async function watchCycleCost(
  options: FreshmirrorBenchLog & FreshnessOptions,
  cleanup: Cleanup,
): Promise<{ costs: CycleCost[]; projects: number; syncRequested: number }> {
  const projects = Array.from({ length: options.cycleProjects ?? 200 }, (_, i) => `cycle-${i}`);
  const upstream = await startPypiUpstream({ indexes: ["simple"] });
  cleanup.defer(() => upstream.close());
  await upstream.publishAll(projects.map((project) => ({ index: "simple", project, version: "1.0.0" })));
  const relay = await startCountingRelay(Number(new URL(upstream.url).port));
  cleanup.defer(() => relay.close());
  const dir = mkdtempSync(join(tmpdir(), "fm-bench-watch-"));
  cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
  const app = await App.open(
    parseConfigText(
      stringify({
        data_dir: join(dir, "data"),
        mirrors: {
          m: {
            type: "pypi",
            upstream: relay.url,
            indexes: ["simple"],
            projects,
            watch: "5s",
            retry_backoff: "10ms",
          },
        },
      }),
      "bench",
    ),
  );
  cleanup.defer(() => app.close());
  const report = await syncMirror(app, "m");
  if (report.outcome !== "success")
    throw new Error(`sync of ${projects.length} projects failed: ${report.error}`);
  options.log(`(b) synced ${projects.length} projects; measuring watch cycles`);
  // A fresh watcher starts from the validators the snapshot recorded, as after a restart.
  let syncRequested = 0;
  const watcher = new Watcher(app, app.lag, {
    requestSync: () => {
      syncRequested++;
    },
  });
  const costs: CycleCost[] = [];
  for (const label of ["first cycle after start (validators from the snapshot)", "next cycle"]) {
    upstream.clearLog();
    relay.counts.connections = 0;
    relay.counts.requestBytes = 0;
    relay.counts.responseBytes = 0;
    const started = performance.now();
    const cycle = await watcher.pollOnce("m");
    const ms = performance.now() - started;
    await sleep(50); // the relay's last chunks
    const statuses = new Map<number, number>();
    for (const r of upstream.requests) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    costs.push({
      label,
      cycle,
      wire: { ...relay.counts },
      statuses,
      conditional: upstream.requests.filter(
        (r) => r.headers["if-none-match"] || r.headers["if-modified-since"],
      ).length,
      upstreamRequests: upstream.requests.length,
      ms,
    });
  }
  return { costs, projects: projects.length, syncRequested };
}

export async function freshness(options: FreshnessOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const cleanup = new Cleanup();
  try {
    log("(a) publication → installable");
    const a = await publicationToInstallable({ ...options, log }, cleanup);
    const visible = a.timings.map((t) => t.visibleMs);
    const withPip = a.timings
      .filter((t) => t.pipMs !== undefined)
      .map((t) => t.visibleMs + (t.pipMs as number));
    const fileGet = a.timings.map((t) => t.fileGetMs);
    const transferMs = Math.max(...fileGet);
    const targetMs = a.watchSeconds * 1000 + 2000 + transferMs;
    const s = (ms: number | undefined) => (ms === undefined ? "n/a" : fixed(ms / 1000, 2));
    const known = (values: (number | undefined)[]) => values.filter((v): v is number => v !== undefined);
    const summary = (label: string, values: number[]) => [
      label,
      values.length > 0 ? s(median(values)) : "n/a",
      values.length > 0 ? s(Math.max(...values)) : "n/a",
      values.length > 0 ? s(Math.min(...values)) : "n/a",
    ];
    await cleanup.run();

    log("(b) watch cycle cost");
    const cleanupB = new Cleanup();
    let b: Awaited<ReturnType<typeof watchCycleCost>>;
    try {
      b = await watchCycleCost({ ...options, log }, cleanupB);
    } finally {
      await cleanupB.run();
    }
    const steady = b.costs.at(-1) as CycleCost;
    const worstRequests = Math.max(...b.costs.map((c) => c.upstreamRequests));
    const worstBytes = Math.max(...b.costs.map((c) => c.wire.requestBytes + c.wire.responseBytes));
    const allNotModified = b.costs.every(
      (c) =>
        c.statuses.get(304) === b.projects &&
        c.conditional === b.projects &&
        c.cycle.notModified === b.projects,
    );

    const sizes = a.timings.map((t) => t.size);
    return {
      name: "freshness",
      title: `freshness: publication → installable with watch: ${a.watchSeconds}s; watch cycle cost over ${b.projects} projects`,
      setup: [
        `(a) The real \`freshmirror serve\` (child process) mirrors ${a.pages} projects from the fixture upstream (\`test/fixtures/pypi-upstream.ts\`, one index \`/simple/\`) with \`watch: ${a.watchSeconds}s\` and a schedule a year away, after one \`freshmirror sync\`.`,
        `${a.timings.length} releases of \`${PROJECT}\` (wheels of ${Math.min(...sizes)}–${Math.max(...sizes)} bytes, so transfer time is about 0) are published one after another, each after a random wait of 0–${a.watchSeconds} s so it lands anywhere in the poll cycle.`,
        `"Served" is publication → the mirror's project page (PEP 691 JSON, polled every 25 ms) lists the wheel and a GET of its URL answers 200 with the whole body.`,
        `Then \`pip download --no-deps ${PROJECT}==<version> --index-url <mirror>/fresh/simple\` runs at once; "pip done" is publication → pip exited 0 (its own run time, start-up included, is in a row of its own).`,
        `"Detected" and "synced" come from the serve log timestamps (the watcher's "changed upstream" line, the scheduler's "watch run success" line).`,
        `(b) An in-process \`Watcher.pollOnce\` over ${b.projects} unchanged projects (each with one wheel), against the fixture upstream behind a TCP relay that counts every byte each way (HTTP headers included, keep-alive connections).`,
      ].join(" "),
      tables: [
        {
          title: `(a) Publication → installable, ${a.timings.length} releases, watch: ${a.watchSeconds}s (seconds)`,
          columns: ["measure", "median", "worst", "best"],
          rows: [
            summary("detected (watcher saw the change)", known(a.timings.map((t) => t.detectMs))),
            summary("targeted sync (seen → run succeeded)", known(a.timings.map((t) => t.syncMs))),
            summary("served: page lists it + file 200", visible),
            summary("file GET from the mirror (transfer)", fileGet),
            summary("pip download run alone", known(a.timings.map((t) => t.pipMs))),
            summary("pip done (served + pip run)", withPip),
            ["target (watch + 2 s + transfer)", `< ${s(targetMs)}`, `< ${s(targetMs)}`, ""],
          ],
        },
        {
          title: "(a) Each release (seconds after publication)",
          columns: ["version", "wheel bytes", "detected", "synced", "served", "pip done"],
          rows: a.timings.map((t) => [
            t.version,
            String(t.size),
            s(t.detectMs),
            t.detectMs === undefined || t.syncMs === undefined ? "n/a" : s(t.detectMs + t.syncMs),
            s(t.visibleMs),
            t.pipMs === undefined ? "n/a" : s(t.visibleMs + t.pipMs),
          ]),
        },
        {
          title: `(b) One watch cycle over ${b.projects} unchanged projects`,
          columns: [
            "cycle",
            "requests",
            "304",
            "conditional",
            "connections",
            "request bytes",
            "response bytes",
            "bytes / project",
            "body bytes (watcher)",
            "wall ms",
          ],
          rows: [
            ...b.costs.map((c) => [
              c.label,
              String(c.upstreamRequests),
              String(c.statuses.get(304) ?? 0),
              String(c.conditional),
              String(c.wire.connections),
              String(c.wire.requestBytes),
              String(c.wire.responseBytes),
              fixed((c.wire.requestBytes + c.wire.responseBytes) / b.projects, 0),
              String(c.cycle.bytes),
              fixed(c.ms, 0),
            ]),
            ["target", `<= ${b.projects}`, "", "", "", "", "", "<= 1024", "", ""],
          ],
        },
      ],
      notes: [
        `The watcher counted ${steady.cycle.requests} requests in the last cycle (its \`WatchCycle.requests\`), the upstream saw ${steady.upstreamRequests}; no sync was requested (${b.syncRequested}).`,
        "Request bytes are dominated by the Accept header the watcher sends (PEP 691 JSON, PEP 503 HTML, text/html) and the two validators; response bytes by the 304's ETag, Last-Modified, X-PyPI-Last-Serial, Date and keep-alive headers. A CDN in front of PyPI adds headers of its own, so per-project bytes against pypi.org are higher than here.",
      ],
      targets: {
        [`(a) median served < watch + 2 s + transfer = ${s(targetMs)} s (${s(median(visible))} s)`]:
          median(visible) < targetMs,
        [`(a) worst served < ${s(targetMs)} s (${s(Math.max(...visible))} s)`]:
          Math.max(...visible) < targetMs,
        ...(withPip.length > 0
          ? {
              [`(a) worst pip done (pip's start-up included) < ${s(targetMs)} s (${s(Math.max(...withPip))} s)`]:
                Math.max(...withPip) < targetMs,
            }
          : {}),
        [`(b) <= 1 request per project (${fixed(worstRequests / b.projects, 2)}), all conditional and answered 304`]:
          worstRequests <= b.projects && allNotModified,
        [`(b) <= 1 KiB per project, request + response (${fixed(worstBytes / b.projects, 0)} B)`]:
          worstBytes / b.projects <= 1024,
      },
    };
  } finally {
    await cleanup.run();
  }
}

/** Runs the benchmark and prints its markdown (for bench/run.ts, or run this file directly). */
export async function run(): Promise<void> {
  const result = await freshness({ log: (line) => process.stderr.write(`bench: freshness: ${line}\n`) });
  process.stdout.write(`${renderResult(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
