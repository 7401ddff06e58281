import { formatBytes, formatDuration } from "../config/duration.js";
import { UsageError } from "../errors.js";
import { runToJson } from "../http/status-json.js";
import { formatLocalTime } from "../http/time-format.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";
import { formatTable } from "./text-table.js";

export const runsHelp = `freshmirror runs <mirror> [--limit N] [--before ID] [--json] [--config FILE]

A mirror's sync runs, newest first: when each started, how long it took, its outcome, the files
it added and removed, and its error. --json prints what GET /api/v1/mirrors/<mirror>/runs does.
Each run's log is under data_dir/logs/<mirror>/<run>.log.`;

export async function runsCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    limit: { type: "string", short: "n" },
    before: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) {
    io.stdout.write(`${runsHelp}\n`);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError("runs takes one mirror name: freshmirror runs <mirror>");
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number above 0`);
  const before = values.before === undefined ? Number.MAX_SAFE_INTEGER : Number(values.before);
  if (!Number.isInteger(before) || before < 1) throw new UsageError(`--before must be a run id`);
  const app = await openApp(values.config, io);
  try {
    const name = app.mirror(positionals[0] as string).config.name;
    const runs = await app.state.runs.list(name, limit, before);
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ mirror: name, total: await app.state.runs.count(name), runs: runs.map(runToJson) }, null, 2)}\n`,
      );
      return EXIT_OK;
    }
    if (runs.length === 0) {
      io.stdout.write(`${name}: no runs yet (freshmirror sync ${name})\n`);
      return EXIT_OK;
    }
    const now = Date.now();
    io.stdout.write(
      formatTable(
        ["RUN", "STARTED", "DURATION", "OUTCOME", "FILES", "ADDED", "ERROR"],
        runs.map((r) => [
          `#${r.id}`,
          formatLocalTime(r.startedAt),
          `${formatDuration((r.endedAt ?? now) - r.startedAt, "s")}${r.endedAt === null ? "+" : ""}`,
          `${r.outcome}${r.project ? ` (${r.project})` : ""}`,
          `+${r.filesAdded}/-${r.filesRemoved} (${r.filesTotal})`,
          formatBytes(r.bytesAdded),
          (r.error ?? "").split("\n")[0] ?? "",
        ]),
      ),
    );
    return EXIT_OK;
  } finally {
    await app.close();
  }
}
