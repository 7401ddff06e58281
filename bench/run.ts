// `npm run bench [-- NAME...] [--json FILE]`: runs the benchmarks (all, or
// the ones named) and prints each one's tables in markdown, ready for BENCHMARKS.md.
// Benchmarks are not timed tests: they report figures against targets and never fail on them.
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, freemem, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { type BenchResult, renderResult } from "./bench-result.js";
import { runAllCleanups } from "./cleanup.js";
import { fileServing } from "./file-serving.js";
import { freshness } from "./freshness.js";
import { incrementalSync } from "./incremental-sync.js";
import { indexPages } from "./index-pages.js";
import { nginxVersion } from "./nginx.js";
import { ociBench } from "./oci.js";
import { pullThrough } from "./pull-through.js";
import { run as statusApi } from "./status-api.js";

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

// `--quick` is a smoke run of the harness (small file, short runs, small index): its figures are
// not the benchmark's.
const BENCHMARKS: Record<string, (quick: boolean) => Promise<BenchResult>> = {
  "file-serving": (quick) =>
    fileServing(quick ? { log, payloadBytes: 64 * 1024 * 1024, repsSingle: 1, repsConcurrent: 1 } : { log }),
  "index-pages": (quick) => indexPages(quick ? { log, durationMs: 1000, warmupMs: 200 } : { log }),
  "incremental-sync": (quick) =>
    incrementalSync(quick ? { log, projects: 10, filesPerProject: 10, changed: 3 } : { log }),
  "pull-through": (quick) =>
    pullThrough(quick ? { log, fileBytes: 64 * 1024 * 1024, hitRuns: "none" } : { log }),
  freshness: (quick) => freshness(quick ? { log, releases: 2, watchSeconds: 2, cycleProjects: 20 } : { log }),
  "status-api": (quick) => statusApi(quick ? { log, durationMs: 1500, mirrors: 10, runs: 500 } : { log }),
  oci: (quick) => ociBench(quick ? { log, layerBytes: 32 * 1024 * 1024, storms: [4], warmRuns: 1 } : { log }),
};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: "string" },
      quick: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      `node dist/bench/run.js [${Object.keys(BENCHMARKS).join("|")} ...] [--json FILE] [--quick]\nWith no names, runs them all. --quick: a smoke run of the harness, not figures.\n`,
    );
    return 0;
  }
  const names = positionals.length > 0 ? positionals : Object.keys(BENCHMARKS);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}\n`,
    );
    return 2;
  }

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const machine = [
    `- CPUs: ${availableParallelism()} (${cpu})`,
    `- memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB (${(freemem() / 1024 ** 3).toFixed(1)} GiB free at start)`,
    `- node: ${process.version}`,
    `- nginx: ${await nginxVersion()}`,
    `- command: \`${["node", ...process.execArgv, "dist/bench/run.js", ...process.argv.slice(2)].join(" ")}\``,
  ].join("\n");
  process.stdout.write(`## Machine\n\n${machine}\n\n`);

  const results: BenchResult[] = [];
  let failed = false;
  for (const name of names) {
    const started = performance.now();
    const loadBefore = loadavg()[0] as number;
    log(`${name}: starting`);
    try {
      const result = await (BENCHMARKS[name] as (quick: boolean) => Promise<BenchResult>)(
        values.quick === true,
      );
      // Other work on the machine moves the figures; say how busy it was.
      result.notes.push(
        `Load average (1 min) ${loadBefore.toFixed(2)} before and ${(loadavg()[0] as number).toFixed(2)} after this benchmark, on ${availableParallelism()} CPUs.`,
      );
      results.push(result);
      log(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      process.stdout.write(`${renderResult(result)}\n`);
    } catch (error) {
      failed = true;
      log(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ machine, results }, null, 2)}\n`);
  return failed ? 1 : 0;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void runAllCleanups().finally(() => process.exit(130));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
