// Benchmark of issue 3 item 10: `/`, `/api/v1/mirrors` and `/jobs` of a station with 50 mirrors
// and 10,000 recorded runs, served by the real `freshmirror serve`, loaded from a second process:
// p50/p99 latency at a fixed 200 requests/s (target: p99 < 20 ms), and the most requests/s a
// closed loop of 16 connections gets.
//
// Register in bench/run.ts:
//   import { run as statusApi } from "./status-api.js";
//   "status-api": (quick) => statusApi(quick ? { log, durationMs: 1500, mirrors: 10, runs: 500 } : { log }),
// or run alone: `node dist/bench/status-api.js [--quick]`.
import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fileRecord } from "../src/store/state-repositories.js";
import { StateStore } from "../src/store/state-store.js";
import { createWorkspace } from "../test/helpers/freshmirror-cli.js";
import { type BenchResult, fixed, percentile, renderResult } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";
import { startLoadClient } from "./load-client.js";
import type { FixedRateJob, FixedRateResult } from "./status-api-worker.js";

export interface StatusApiOptions {
  mirrors?: number;
  runs?: number;
  /** Measured time per endpoint at the fixed rate, in `rounds` slices. */
  durationMs?: number;
  rounds?: number;
  ratePerSecond?: number;
  /** Connections of the closed-loop throughput run. */
  connections?: number;
  log?: (line: string) => void;
}

const ENDPOINTS = ["/", "/api/v1/mirrors", "/jobs"] as const;
const HOUR = 3_600_000;

/** Fills the state: every mirror with a published snapshot and its share of the run history. */
async function seed(dataDir: string, names: readonly string[], runs: number): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const state = new StateStore(join(dataDir, "state.sqlite"));
  try {
    const now = Date.now();
    const perMirror = Math.ceil(runs / names.length);
    let made = 0;
    for (const [m, name] of names.entries()) {
      await state.mirrors.ensure(name);
      for (let i = perMirror; i >= 1 && made < runs; i--, made++) {
        const startedAt = now - i * 6 * HOUR - m * 60_000;
        const failed = (i + m) % 11 === 0;
        const id = await state.runs.start(name, "sync", null, startedAt, `/nonexistent/${name}/${i}.log`);
        await state.runs.finish(
          id,
          {
            outcome: failed ? "failed" : "success",
            filesAdded: failed ? 0 : 3,
            filesTotal: 40,
            bytesAdded: 3 * 700_000_000,
            bytesTotal: 40 * 700_000_000,
            upstreamRequests: 45,
            error: failed
              ? "upstream answered HTTP 503 for https://download.pytorch.org/whl/cu121/torch/"
              : null,
          },
          startedAt + 60_000 + ((i * 7_919) % 600_000),
        );
      }
      const files = Array.from({ length: 40 }, (_, f) =>
        fileRecord({
          path: `whl/cu121/torch-2.${f}.0-cp312-cp312-linux_x86_64.whl`,
          project: "torch",
          filename: `torch-2.${f}.0-cp312-cp312-linux_x86_64.whl`,
          upstreamUrl: `https://download.pytorch.org/whl/cu121/torch-2.${f}.0-cp312-cp312-linux_x86_64.whl`,
          sha256: (m * 1000 + f).toString(16).padStart(64, "0"),
          size: 700_000_000,
        }),
      );
      for (const f of files) await state.blobs.record(f.sha256, f.size, "sync", now - HOUR);
      await state.snapshots.publish(name, null, [{ idx: "whl/cu121", projects: [], files }], now - HOUR);
      await state.mirrors.update(name, {
        state: m % 17 === 0 ? "failed" : "success",
        lastSuccessAt: now - HOUR,
        lastAttemptAt: now - HOUR - 60_000,
        lastEndedAt: now - HOUR,
        lastError: m % 17 === 0 ? "upstream answered HTTP 503" : null,
      });
    }
  } finally {
    state.close();
  }
}

interface FixedRateWorker {
  run(job: FixedRateJob): Promise<FixedRateResult>;
  close(): Promise<void>;
}

function startFixedRateWorker(): Promise<FixedRateWorker> {
  const child: ChildProcess = fork(
    join(dirname(fileURLToPath(import.meta.url)), "status-api-worker.js"),
    [],
    {
      execArgv: ["--enable-source-maps"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  let nextId = 1;
  const pending = new Map<number, { resolve(r: FixedRateResult): void; reject(e: Error): void }>();
  child.on("message", (m: { id: number; result?: FixedRateResult; error?: string }) => {
    const waiter = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) waiter?.reject(new Error(m.error));
    else waiter?.resolve(m.result as FixedRateResult);
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () =>
      resolve({
        run: (job) =>
          new Promise((res, rej) => {
            const id = nextId++;
            pending.set(id, { resolve: res, reject: rej });
            child.send({ id, job });
          }),
        close: () =>
          new Promise<void>((res) => {
            if (child.exitCode !== null) return res();
            child.once("exit", () => res());
            child.kill();
          }),
      }),
    );
  });
}

export async function run(options: StatusApiOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const mirrorCount = options.mirrors ?? 50;
  const runCount = options.runs ?? 10_000;
  const durationMs = options.durationMs ?? 15_000;
  const rounds = options.rounds ?? 5;
  const rate = options.ratePerSecond ?? 200;
  const connections = options.connections ?? 16;
  const cleanup = new Cleanup();
  try {
    const names = Array.from({ length: mirrorCount }, (_, i) => `mirror-${String(i).padStart(2, "0")}`);
    const ws = createWorkspace({
      public_url: "http://mirror.example.edu",
      mirrors: Object.fromEntries(
        names.map((name, i) => [
          name,
          {
            type: "pypi",
            // Never contacted: the schedules' next slots lie hours ahead.
            upstream: "http://127.0.0.1:9",
            indexes: ["whl/cu121"],
            projects: ["torch"],
            schedule: i % 2 === 0 ? "0 2 * * *" : "6h",
            description: `benchmark mirror ${i}`,
          },
        ]),
      ),
    });
    cleanup.defer(() => ws.cleanup());
    log(`seeding ${mirrorCount} mirrors and ${runCount} runs`);
    await seed(ws.dataDir, names, runCount);
    const server = await ws.serve();
    cleanup.defer(() => server.stop());
    const bodies: Record<string, number> = {};
    for (const path of ENDPOINTS) {
      const res = await fetch(`${server.url}${path}`);
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      bodies[path] = Buffer.byteLength(body);
      const listed =
        path === "/"
          ? (body.match(/<tr data-mirror=/g) ?? []).length
          : names.filter((n) => body.includes(`"${n}"`)).length;
      if (listed !== mirrorCount) throw new Error(`${path} lists ${listed} mirrors, not ${mirrorCount}`);
    }
    const fixedRateWorker = await startFixedRateWorker();
    cleanup.defer(() => fixedRateWorker.close());
    const client = await startLoadClient();
    cleanup.defer(() => client.close());

    const rows: string[][] = [];
    const targets: Record<string, boolean> = {};
    const fixedRuns = new Map<string, { sent: number; seconds: number; latencies: number[] }>();
    for (const path of ENDPOINTS) {
      fixedRuns.set(path, { sent: 0, seconds: 0, latencies: [] });
      // Warm-up.
      await fixedRateWorker.run({
        url: `${server.url}${path}`,
        ratePerSecond: rate,
        durationMs: 1000,
        connections: 32,
      });
    }
    // Short slices, endpoints taking turns, so load from elsewhere on the machine falls on all.
    for (let round = 0; round < rounds; round++) {
      for (const path of round % 2 === 0 ? ENDPOINTS : [...ENDPOINTS].reverse()) {
        const result = await fixedRateWorker.run({
          url: `${server.url}${path}`,
          ratePerSecond: rate,
          durationMs: durationMs / rounds,
          connections: 32,
        });
        if (result.errors > 0) throw new Error(`${path}: ${result.errors} failed requests at ${rate}/s`);
        const total = fixedRuns.get(path) as { sent: number; seconds: number; latencies: number[] };
        total.sent += result.sent;
        total.seconds += result.seconds;
        total.latencies.push(...result.latenciesMs);
      }
    }
    for (const path of ENDPOINTS) {
      const url = `${server.url}${path}`;
      const fixedResult = fixedRuns.get(path) as { sent: number; seconds: number; latencies: number[] };
      const closed = await client.run({
        kind: "requests",
        url,
        headers: {},
        connections,
        durationMs: Math.max(1000, durationMs / 2),
      });
      if (closed.errors > 0) throw new Error(`${path}: ${closed.errors} failed requests in the closed loop`);
      const p50 = percentile(fixedResult.latencies, 50);
      const p99 = percentile(fixedResult.latencies, 99);
      const max = Math.max(...fixedResult.latencies);
      const achieved = fixedResult.sent / fixedResult.seconds;
      const maxRate = closed.requests / closed.seconds;
      log(`${path}: p99 ${fixed(p99, 2)} ms at ${rate}/s; ${fixed(maxRate, 0)} req/s closed loop`);
      rows.push([
        `\`${path}\``,
        `${((bodies[path] as number) / 1024).toFixed(1)} KiB`,
        fixed(achieved, 0),
        fixed(p50, 2),
        fixed(p99, 2),
        fixed(max, 2),
        fixed(maxRate, 0),
        fixed(percentile(closed.latenciesMs, 99), 2),
      ]);
      targets[`${path}: p99 < 20 ms at ${rate} requests/s`] = p99 < 20;
    }
    return {
      name: "status-api",
      title: "Status page and API with 50 mirrors and 10,000 runs",
      setup: `\`freshmirror serve\` with ${mirrorCount} mirror-mode mirrors, each with a published snapshot of 40 files, and ${runCount} recorded runs in the state store; load from a separate process: ${rate} requests/s open loop (latency from each request's due time) for ${durationMs / 1000} s per endpoint (in ${rounds} slices, endpoints taking turns), then a closed loop of ${connections} keep-alive connections for ${Math.max(1000, durationMs / 2) / 1000} s.`,
      tables: [
        {
          title: "Latency at a fixed rate, and throughput",
          columns: [
            "endpoint",
            "body",
            "sent req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            `closed loop req/s (${connections} conns)`,
            "closed loop p99 ms",
          ],
          rows,
        },
      ],
      notes: [
        "The statuses are read from SQLite again only when the database changed (PRAGMA data_version and total_changes()); otherwise each request brings the last reading to the current time and renders it. No writes happen during the run, as on a station between syncs; during a sync each request rereads (about 100 small indexed queries for 50 mirrors).",
        "The machine has 2 CPUs and other benchmarks may have been running at the same time: see the load average below.",
      ],
      targets,
    };
  } finally {
    await cleanup.run();
  }
}

function startedAsProgram(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (startedAsProgram()) {
  const quick = process.argv.includes("--quick");
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  run(quick ? { log, durationMs: 1500, mirrors: 10, runs: 500 } : { log }).then(
    (result) => process.stdout.write(renderResult(result)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
