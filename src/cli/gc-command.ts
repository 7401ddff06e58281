import { formatBytes, formatDuration } from "../config/duration.js";
import { collectGarbage } from "../store/garbage-collector.js";
import { gcCutoff } from "../sync/gc-cutoff.js";
import { type CommandIo, EXIT_FAILED, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";

export const gcHelp = `freshmirror gc [--dry-run] [--json] [--config FILE]

Removes blobs that nothing live references and that were last used longer ago than gc_grace
(default 1h) and before the oldest sync still running started, across every mirror, and reports
the bytes freed. Live are the blobs a snapshot lists, blobs fetched on demand (max_cache_size
bounds those), and whatever a live blob references (an OCI index its manifests, a manifest its
config and layers), transitively. It may run beside a sync: blobs a sync is about to list
without fetching them again are kept. Bytes it cannot remove are named and the exit code is 1.
--dry-run lists what would go (one line per blob) and removes nothing. \`serve\` runs the same
on gc_schedule.`;

export async function gcCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { "dry-run": { type: "boolean" }, json: { type: "boolean" } },
    false,
  );
  if (values.help) {
    io.stdout.write(`${gcHelp}\n`);
    return EXIT_OK;
  }
  const app = await openApp(values.config, io, { writes: values["dry-run"] !== true });
  try {
    const dryRun = values["dry-run"] === true;
    const report = await collectGarbage(
      { records: app.state.blobs, store: app.blobs },
      { before: await gcCutoff(app.state, Date.now(), app.config.gcGraceMs), dryRun },
    );
    const count = report.blobs.length - report.failed.length;
    for (const failure of report.failed)
      io.stderr.write(`gc: could not remove the bytes of sha256:${failure.sha256}: ${failure.error}\n`);
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ dryRun, blobs: count, bytes: report.bytes, failed: report.failed.length })}\n`,
      );
    } else {
      if (dryRun)
        for (const blob of report.blobs)
          io.stdout.write(`would remove sha256:${blob.sha256} ${formatBytes(blob.size)} (${blob.origin})\n`);
      io.stdout.write(
        `gc${dryRun ? " (dry run)" : ""}: ${count} unreferenced blob(s) older than ${formatDuration(app.config.gcGraceMs)}, ${formatBytes(report.bytes)} ${dryRun ? "would be freed" : "freed"}\n`,
      );
    }
    return report.failed.length > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await app.close();
  }
}
