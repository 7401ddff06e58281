import { describeError, UsageError } from "../errors.js";
import { rehashBlob } from "../store/blob-store.js";
import { type CommandIo, EXIT_FAILED, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";

export const verifyHelp = `freshmirror verify <mirror> [--repair] [--json] [--config FILE]

Hashes every blob the mirror's current snapshots list (files and core metadata) and compares it
with the recorded sha256. Exit 1 on any mismatch or missing blob. --repair fetches bad or
missing files again from upstream (verified as in a sync).`;

interface Problem {
  sha256: string;
  filename: string;
  problem: "missing" | "mismatch";
  actual?: string;
  repaired?: boolean;
  repairError?: string;
}

export async function verifyCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    repair: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (values.help) {
    io.stdout.write(`${verifyHelp}\n`);
    return EXIT_OK;
  }
  if (positionals.length !== 1)
    throw new UsageError("verify takes one mirror name: freshmirror verify <mirror>");
  const app = await openApp(values.config, io, { writes: values.repair === true });
  try {
    const mirror = app.mirror(positionals[0] as string);
    const blobs = new Map<string, { filename: string; url: string; metadata: boolean }>();
    for (const snapshot of await app.state.snapshots.currentSnapshots(mirror.config.name)) {
      for (const file of await app.state.snapshots.filesOfSnapshot(snapshot.snapshotId)) {
        blobs.set(file.sha256, { filename: file.filename, url: file.upstreamUrl, metadata: false });
        if (file.metadataSha256 && !blobs.has(file.metadataSha256)) {
          blobs.set(file.metadataSha256, {
            filename: `${file.filename}.metadata`,
            url: `${file.upstreamUrl}.metadata`,
            metadata: true,
          });
        }
      }
    }
    const problems: Problem[] = [];
    let bytes = 0;
    for (const [sha256, owner] of blobs) {
      const found = await rehashBlob(app.blobs, sha256);
      if (found) bytes += found.size;
      if (found && found.sha256 === sha256) continue;
      const problem: Problem = found
        ? { sha256, filename: owner.filename, problem: "mismatch", actual: found.sha256 }
        : { sha256, filename: owner.filename, problem: "missing" };
      problems.push(problem);
      if (values.repair) {
        await app.blobs.remove(sha256);
        try {
          if (owner.metadata && owner.url.endsWith(".metadata")) {
            // Extracted metadata has no upstream copy with this digest; a re-sync regenerates it.
            problem.repairError = "metadata blob: run `freshmirror sync` to regenerate it";
          } else {
            await mirror.fetcher.fetch({ url: owner.url, filename: owner.filename, sha256, origin: "sync" })
              .done;
            problem.repaired = true;
          }
        } catch (error) {
          problem.repairError = describeError(error);
        }
      }
    }
    if (values.json) {
      io.stdout.write(
        `${JSON.stringify({ mirror: mirror.config.name, checked: blobs.size, bytes, problems }, null, 2)}\n`,
      );
    } else {
      for (const p of problems) {
        io.stdout.write(
          `${p.problem === "missing" ? "MISSING " : "MISMATCH"} ${p.filename} sha256:${p.sha256}${p.actual ? ` (content hashes to ${p.actual})` : ""}${p.repaired ? " — repaired" : p.repairError ? ` — repair failed: ${p.repairError}` : ""}\n`,
        );
      }
      io.stdout.write(
        `verify ${mirror.config.name}: ${blobs.size} blobs (${bytes} bytes) checked, ${problems.length} problem(s)\n`,
      );
    }
    const unrepaired = problems.filter((p) => !p.repaired);
    return unrepaired.length > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await app.close();
  }
}
