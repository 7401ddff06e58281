import { formatBytes, formatDuration } from "../config/duration.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";

export const gcHelp = `freshmirror gc [--dry-run] [--json] [--config FILE]

Removes blobs that no snapshot lists and that were last used longer ago than gc_grace
(default 1h), and reports the bytes freed. --dry-run only reports.`;

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
    // Blobs fetched on demand are governed by max_cache_size, not by gc.
    const garbage = app.state
      .unreferencedBlobs(Date.now() - app.config.gcGraceMs)
      .filter((b) => b.origin !== "fetch");
    let freed = 0;
    for (const blob of garbage) {
      if (!dryRun) {
        await app.blobs.remove(blob.sha256);
        app.state.deleteBlob(blob.sha256);
      }
      freed += blob.size;
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ dryRun, blobs: garbage.length, bytes: freed })}\n`);
    } else {
      io.stdout.write(
        `gc${dryRun ? " (dry run)" : ""}: ${garbage.length} unreferenced blob(s) older than ${formatDuration(app.config.gcGraceMs)}, ${formatBytes(freed)} ${dryRun ? "would be freed" : "freed"}\n`,
      );
    }
    return EXIT_OK;
  } finally {
    await app.close();
  }
}
