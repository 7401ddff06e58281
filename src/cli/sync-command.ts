import { formatBytes, formatDuration } from "../config/duration.js";
import { UsageError } from "../errors.js";
import { syncMirror } from "../sync/run-lifecycle.js";
import { type CommandIo, EXIT_FAILED, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";
import { ProgressReporter } from "./progress-reporter.js";

export const syncHelp = `freshmirror sync <mirror> [--project NAME] [--dry-run] [--json] [--config FILE]

Syncs a mirror from its upstream: downloads what is new, verifies every file by sha256 and
publishes a new snapshot atomically. --dry-run prints what would be fetched and its size.
Exit codes: 0 success, 1 the sync failed (the previous snapshot keeps serving), 2 usage/config.`;

export async function syncCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    project: { type: "string", short: "p" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (values.help) {
    io.stdout.write(`${syncHelp}\n`);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError("sync takes one mirror name: freshmirror sync <mirror>");
  const app = await openApp(values.config, io, { writes: values["dry-run"] !== true });
  try {
    const tty = io.stderr.isTTY === true && !values.json;
    // A bar redrawn in place on a terminal; plain progress lines every few seconds otherwise.
    const progress = values.json
      ? undefined
      : new ProgressReporter({ tty, write: (text) => io.stderr.write(text) });
    const report = await syncMirror(app, positionals[0] as string, {
      project: values.project,
      dryRun: values["dry-run"],
      onLog: values.json || tty ? undefined : (line) => io.stderr.write(`${line}\n`),
      onProgress: progress && ((p) => progress.update(p)),
    });
    progress?.finish();
    if (values.json) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else if (report.outcome === "dry-run") {
      for (const file of report.toFetch) {
        io.stdout.write(
          `${file.size === undefined ? "?" : formatBytes(file.size)}\t${file.idx}\t${file.filename}\n`,
        );
      }
      io.stdout.write(
        `dry run: ${report.toFetch.length} files to fetch, ${formatBytes(report.bytesAdded)}${report.toFetch.some((f) => f.size === undefined) ? " (some sizes unknown)" : ""}; ${report.filesRemoved} files would leave\n`,
      );
    } else {
      for (const warning of report.warnings) io.stdout.write(`warning: ${warning}\n`);
      io.stdout.write(
        report.outcome === "success"
          ? `sync ${report.mirror} #${report.runId}: success, +${report.filesAdded} files (${formatBytes(report.bytesAdded)}), -${report.filesRemoved}, ${report.filesTotal} files (${formatBytes(report.bytesTotal)}) published, ${report.upstreamRequests} upstream requests in ${formatDuration(report.durationMs)}\n`
          : `sync ${report.mirror} #${report.runId}: failed: ${report.error}\n`,
      );
    }
    return report.outcome === "failed" ? EXIT_FAILED : EXIT_OK;
  } finally {
    await app.close();
  }
}
