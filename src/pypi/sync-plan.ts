// Pure planning: from the files an index should list now (after the filters) and the files its
// current snapshot lists, which must be downloaded, which are kept as they are, and which leave.
import type { FileRecord } from "../store/state-store.js";
import type { OtherHash } from "../sync/other-hash.js";

/** A file the filters selected, as far as the upstream index describes it. */
export interface WantedFile {
  idx: string;
  path: string;
  project: string;
  filename: string;
  upstreamUrl: string;
  /** From the index; undefined when upstream publishes no sha256. */
  sha256: string | undefined;
  /** Without a sha256: another digest the index gave (sha512, md5, …), checked on download. */
  otherHash?: OtherHash | undefined;
  size: number | undefined;
  requiresPython: string | null;
  yanked: string | null;
  uploadTime: string | null;
  /** Upstream's core metadata: undefined when not offered, otherwise its sha256 (undefined if unhashed). */
  upstreamMetadata: { sha256: string | undefined } | undefined;
}

export interface SyncPlan {
  /** Files whose bytes are already published under the same path and digest: their records are reused. */
  kept: { wanted: WantedFile; previous: FileRecord }[];
  /** Files to download (or to take from the store when the blob is already there). */
  fetch: WantedFile[];
  /** Previous files that are no longer wanted. */
  removed: FileRecord[];
}

/**
 * Diffs wanted files against the current snapshot. A file without an upstream hash is kept when
 * the same path came from the same URL before (wheel names are immutable on PyPI-style indexes).
 */
export function planIndexSync(
  wanted: readonly WantedFile[],
  previous: readonly FileRecord[],
  blobExists: (sha256: string) => boolean,
): SyncPlan {
  const byPath = new Map(previous.map((f) => [f.path, f]));
  const plan: SyncPlan = { kept: [], fetch: [], removed: [] };
  const wantedPaths = new Set<string>();
  for (const file of wanted) {
    wantedPaths.add(file.path);
    const before = byPath.get(file.path);
    const sameContent =
      before !== undefined &&
      (file.sha256 === undefined ? before.upstreamUrl === file.upstreamUrl : before.sha256 === file.sha256) &&
      blobExists(before.sha256);
    if (before && sameContent) plan.kept.push({ wanted: file, previous: before });
    else plan.fetch.push(file);
  }
  for (const file of previous) if (!wantedPaths.has(file.path)) plan.removed.push(file);
  return plan;
}
