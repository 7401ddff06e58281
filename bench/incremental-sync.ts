// Benchmark (c): a 10,000-file index (100 projects × 100 wheels, each with a PEP 658 `.metadata`)
// synced once from the fixture upstream; then 10 new files are published (one in each of 10
// projects) and a second `freshmirror sync` is timed, and every request the upstream saw is
// counted from its own log and compared with the run's `upstreamRequests`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type LoggedRequest,
  type PublishOptions,
  startPypiUpstream,
} from "../test/fixtures/pypi-upstream.js";
import { createWorkspace } from "../test/helpers/freshmirror-cli.js";
import { type BenchResult, fixed } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";

export interface IncrementalSyncOptions {
  projects?: number;
  filesPerProject?: number;
  changed?: number;
  log?: (line: string) => void;
}

interface SyncJson {
  runId: number | null;
  outcome: string;
  filesAdded: number;
  filesTotal: number;
  upstreamRequests: number;
  durationMs: number;
  error?: string;
}

interface RequestCounts {
  projectList: number;
  projectPages: number;
  files: number;
  metadata: number;
  other: string[];
  total: number;
}

/**
 * Where the run's time went, from the timestamps of its log (`logs/<mirror>/<run>.log`): start,
 * "N files to fetch" (pages read and planned), the last "fetched …" (downloads done), the last line.
 * Lines that are not there (the log's wording may change) are left out.
 */
function phases(dataDir: string, mirror: string, runId: number | null): string | undefined {
  if (runId === null) return undefined;
  let lines: { at: number; text: string }[];
  try {
    lines = readFileSync(join(dataDir, "logs", mirror, `${runId}.log`), "utf8")
      .split("\n")
      .map((line) => ({ at: Date.parse(line.slice(0, 24)), text: line.slice(25) }))
      .filter((line) => Number.isFinite(line.at));
  } catch {
    return undefined;
  }
  const first = lines[0];
  const last = lines.at(-1);
  if (!first || !last) return undefined;
  const planned = lines.find((l) => /files to fetch/.test(l.text));
  const fetched = lines.filter((l) => /^fetched /.test(l.text)).at(-1);
  const parts: string[] = [];
  let from = first.at;
  if (planned) {
    parts.push(`index pages read, parsed and planned ${((planned.at - from) / 1000).toFixed(2)} s`);
    from = planned.at;
  }
  if (fetched) {
    parts.push(`downloads ${((fetched.at - from) / 1000).toFixed(2)} s`);
    from = fetched.at;
  }
  parts.push(`publish and finish ${((last.at - from) / 1000).toFixed(2)} s`);
  return parts.join(", ");
}

function classify(requests: readonly LoggedRequest[], index: string): RequestCounts {
  const counts: RequestCounts = {
    projectList: 0,
    projectPages: 0,
    files: 0,
    metadata: 0,
    other: [],
    total: 0,
  };
  for (const { method, path } of requests) {
    counts.total++;
    const p = path.split("?")[0] ?? "";
    if (method !== "GET") counts.other.push(`${method} ${path}`);
    else if (p === `/${index}/`) counts.projectList++;
    else if (p.startsWith(`/${index}/`) && p.endsWith("/")) counts.projectPages++;
    else if (p.endsWith(".metadata")) counts.metadata++;
    else if (p.endsWith(".whl")) counts.files++;
    else counts.other.push(`${method} ${path}`);
  }
  return counts;
}

export async function incrementalSync(options: IncrementalSyncOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const projects = options.projects ?? 100;
  const perProject = options.filesPerProject ?? 100;
  const changed = options.changed ?? 10;
  const index = "simple";
  const name = (p: number) => `bench-project-${String(p).padStart(3, "0")}`;
  const cleanup = new Cleanup();
  try {
    const upstream = await startPypiUpstream({ indexes: [index] });
    cleanup.defer(() => upstream.close());
    log(`publishing ${projects * perProject} wheels in the fixture upstream`);
    const specs: PublishOptions[] = [];
    for (let p = 0; p < projects; p++) {
      for (let v = 0; v < perProject; v++) specs.push({ index, project: name(p), version: `1.0.${v}` });
    }
    await upstream.publishAll(specs);

    const ws = createWorkspace({
      mirrors: { pypi: { type: "pypi", upstream: upstream.url, indexes: [index], retry_backoff: "10ms" } },
    });
    cleanup.defer(() => ws.cleanup());
    const sync = async (label: string): Promise<{ report: SyncJson; wallSeconds: number }> => {
      const started = performance.now();
      const result = await ws.cli(["sync", "pypi", "--json"], { timeoutMs: 900_000 });
      const wallSeconds = (performance.now() - started) / 1000;
      const report = JSON.parse(result.stdout) as SyncJson;
      if (result.code !== 0 || report.outcome !== "success") {
        throw new Error(`${label} sync failed (${result.code}): ${report.error ?? result.stderr}`);
      }
      log(
        `${label} sync: ${fixed(wallSeconds, 2)} s, +${report.filesAdded}, ${report.upstreamRequests} requests`,
      );
      return { report, wallSeconds };
    };

    log("first sync (not timed against a target)");
    const first = await sync("first");
    if (first.report.filesTotal !== projects * perProject) {
      throw new Error(`first sync published ${first.report.filesTotal} files, not ${projects * perProject}`);
    }

    upstream.clearLog();
    const unchanged = await sync("no-change");
    const unchangedCounts = classify(upstream.requests, index);

    upstream.clearLog();
    const step = Math.max(1, Math.floor(projects / changed));
    const added = await upstream.publishAll(
      Array.from({ length: changed }, (_, i) => ({
        index,
        project: name((i * step) % projects),
        version: "1.1.0",
      })),
    );
    const second = await sync("incremental");
    const counts = classify(upstream.requests, index);
    const fetchedFiles = new Set(
      upstream.requests
        .map((r) => decodeURIComponent((r.path.split("?")[0] ?? "").split("/").pop() ?? ""))
        .filter((f) => f.endsWith(".whl")),
    );
    const exactFiles = added.every((a) => fetchedFiles.has(a.filename)) && fetchedFiles.size === added.length;
    const expected = 1 + projects + changed * 2;

    const row = (label: string, run: { report: SyncJson; wallSeconds: number }, c: RequestCounts) => [
      label,
      String(run.report.filesAdded),
      fixed(run.wallSeconds, 2),
      fixed(run.report.durationMs / 1000, 2),
      String(c.projectList),
      String(c.projectPages),
      String(c.files),
      String(c.metadata),
      String(c.other.length),
      String(c.total),
      String(run.report.upstreamRequests),
    ];
    const targetTime = second.wallSeconds < 3;
    const targetRequests = counts.total === expected && counts.other.length === 0 && exactFiles;
    return {
      name: "incremental-sync",
      title: `(c) incremental-sync: ${projects * perProject} files, ${changed} new`,
      setup: `The fixture upstream (\`test/fixtures/pypi-upstream.ts\`, negotiating PEP 691 JSON) publishes ${projects} projects × ${perProject} real wheels, each with a PEP 658 \`.metadata\` file, in one index \`/${index}/\`; the mirror has no \`projects\` list, so each sync reads the project list and every project page. A first \`freshmirror sync pypi --json\` takes all ${projects * perProject} files (${fixed(first.wallSeconds, 1)} s wall, ${first.report.upstreamRequests} upstream requests, default \`concurrency: 4\`). Then a sync with nothing changed, then ${changed} new wheels (version 1.1.0 of ${changed} different projects) are published and the sync is run again. "wall" is the whole CLI process, spawn to exit (node start-up and opening the state included); "run" is the report's \`durationMs\`. Request counts come from the upstream's own request log; "reported" is the run's \`upstreamRequests\`.`,
      tables: [
        {
          title: "Second sync",
          columns: [
            "sync",
            "files added",
            "wall s",
            "run s",
            "project list",
            "project pages",
            "files",
            ".metadata",
            "other",
            "upstream total",
            "reported",
          ],
          rows: [
            row("no change", unchanged, unchangedCounts),
            row(`${changed} new files`, second, counts),
            [
              "target",
              String(changed),
              "< 3",
              "",
              "1",
              String(projects),
              String(changed),
              String(changed),
              "0",
              String(expected),
              String(expected),
            ],
          ],
        },
      ],
      notes: [
        ...[
          ["no-change", unchanged],
          ["incremental", second],
        ].flatMap(([label, run]) => {
          const split = phases(ws.dataDir, "pypi", (run as { report: SyncJson }).report.runId);
          return split ? [`Where the ${label as string} run's time went (from its log): ${split}.`] : [];
        }),
        `The files fetched in the incremental sync are ${exactFiles ? "exactly the new ones" : `NOT exactly the new ones: ${[...fetchedFiles].join(", ")}`}.`,
        ...(counts.other.length > 0 ? [`Unexpected requests: ${counts.other.slice(0, 10).join(", ")}`] : []),
        ...(second.report.upstreamRequests !== counts.total
          ? [
              `The run reported ${second.report.upstreamRequests} upstream requests; the upstream saw ${counts.total}.`,
            ]
          : []),
      ],
      targets: {
        [`wall time < 3 s (${fixed(second.wallSeconds, 2)} s)`]: targetTime,
        [`upstream requests = project list + ${projects} pages + ${changed} files + ${changed} .metadata = ${expected}, nothing more (${counts.total})`]:
          targetRequests,
      },
    };
  } finally {
    await cleanup.run();
  }
}
