import { formatBytes, formatDuration } from "../config/duration.js";
import { mirrorToJson } from "../http/status-json.js";
import { formatLocalTime, formatRelative } from "../http/time-format.js";
import { collectMirrorStatuses, type MirrorStatus } from "../sync/mirror-status.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";
import { formatTable } from "./text-table.js";

export const statusHelp = `freshmirror status [--json] [--config FILE]

Every mirror's state, last successful sync, next scheduled sync, lag, size and upstream: the
status page's table, read from the state in data_dir (no server needed). --json prints what
GET /api/v1/mirrors returns.`;

function when(ms: number | null, now: number, none: string): string {
  return ms === null ? none : `${formatLocalTime(ms).slice(0, 16)} (${formatRelative(ms, now)})`;
}

function next(m: MirrorStatus, now: number): string {
  if (m.mode === "proxy") return "on demand";
  if (m.state === "paused" || m.state === "disabled") return m.state;
  if (m.state === "syncing") return "syncing now";
  return when(m.nextRunAt, now, "not scheduled");
}

function lag(m: MirrorStatus): string {
  if (m.mode === "proxy") return "n/a";
  if (m.lagLevel === "unknown")
    return `unknown (upstream unreachable since ${new Date(m.upstreamFailingSince ?? 0).toISOString()})`;
  if (m.lagMs === null) return "never synced";
  const mark = m.lagLevel === "critical" ? " CRITICAL" : m.lagLevel === "warn" ? " (warn)" : "";
  return `${formatDuration(m.lagMs, "s")}${mark}`;
}

export async function statusCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { json: { type: "boolean" } }, false);
  if (values.help) {
    io.stdout.write(`${statusHelp}\n`);
    return EXIT_OK;
  }
  const app = await openApp(values.config, io);
  try {
    const now = Date.now();
    const statuses = await collectMirrorStatuses(app.config, app.state, now);
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ generated_at: new Date(now).toISOString(), mirrors: statuses.map(mirrorToJson) }, null, 2)}\n`,
      );
      return EXIT_OK;
    }
    if (statuses.length === 0) {
      io.stdout.write(`no mirrors are configured (config: ${app.config.source})\n`);
      return EXIT_OK;
    }
    io.stdout.write(
      formatTable(
        ["MIRROR", "STATE", "LAST SUCCESS", "NEXT SYNC", "LAG", "SIZE", "UPSTREAM"],
        statuses.map((m) => [
          m.name,
          m.state,
          when(m.lastSuccessAt, now, m.mode === "proxy" ? "-" : "never"),
          next(m, now),
          lag(m),
          `${formatBytes(m.totalSize)} (${m.fileCount} files)`,
          m.upstream,
        ]),
      ),
    );
    for (const m of statuses) {
      if (m.state === "failed" && m.lastError) io.stdout.write(`\n${m.name}: last error: ${m.lastError}\n`);
    }
    return EXIT_OK;
  } finally {
    await app.close();
  }
}
