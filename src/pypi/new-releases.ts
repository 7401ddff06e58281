// Which releases a sync run published that the mirror did not have before: the public version
// (2.9.1 for 2.9.1+cu128 and 2.9.1+cpu alike) of added files whose project had files already,
// but none of that version. A project's first import announces nothing.
import type { FileRecord } from "../store/state-store.js";
import type { NewRelease } from "../sync/sync-step.js";
import { parseDistributionFilename } from "./distribution-filename.js";
import { encodeMirrorPath } from "./mirror-paths.js";

function publicVersionOf(filename: string): string | undefined {
  const version = parseDistributionFilename(filename)?.version;
  return version?.split("+")[0];
}

/** Releases among the added files whose project had files before, but none of that release. */
export function findNewReleases(
  previous: readonly FileRecord[],
  added: readonly { idx: string; file: FileRecord }[],
): NewRelease[] {
  const before = new Map<string, Set<string>>();
  for (const file of previous) {
    const version = publicVersionOf(file.filename);
    if (version === undefined) continue;
    const versions = before.get(file.project) ?? new Set<string>();
    versions.add(version);
    before.set(file.project, versions);
  }
  const releases = new Map<string, NewRelease>();
  for (const { idx, file } of added) {
    const version = publicVersionOf(file.filename);
    const known = before.get(file.project);
    if (version === undefined || known === undefined || known.has(version)) continue;
    const key = `${file.project}\0${version}`;
    const release = releases.get(key) ?? { project: file.project, version, files: [] };
    release.files.push({
      idx,
      filename: file.filename,
      path: file.path,
      urlPath: encodeMirrorPath(file.path),
      sha256: file.sha256,
      size: file.size,
    });
    releases.set(key, release);
  }
  return [...releases.values()];
}
