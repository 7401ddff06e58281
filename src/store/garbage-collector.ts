// Garbage collection across every mirror of every kind. The state says what is live (snapshots,
// blobs fetched on demand, recently used blobs, and what any of those references, transitively:
// BlobRepository.unreferenced); this forgets the records of the rest, then removes their bytes.
// A blob some kept parent references (an OCI index its manifests, a manifest its layers) is never
// collected, whatever the kind that recorded the reference.
//
// gc runs beside syncs and pull-through (another process, the server): records go first, in one
// step that re-reads what is live (BlobRepository.deleteUnreferenced), and only then the bytes. A
// sync that claimed a blob (BlobRepository.claim) or published a snapshot listing it before that
// step keeps it; one after finds no record and fetches the blob again. A snapshot is never
// published listing a blob without a record (SnapshotRepository.publish).
import type { BlobStore } from "./blob-store.js";
import type { BlobRepository, BlobRow } from "./state-repositories.js";

export interface GarbageReport {
  dryRun: boolean;
  /** What was removed (or, in a dry run, would be), `failed` included. */
  blobs: BlobRow[];
  /** Bytes freed (or, in a dry run, that would be). */
  bytes: number;
  /**
   * Blobs whose record went but whose bytes could not be removed (permissions, I/O): the bytes
   * stay on disk, unrecorded, and are fetched again if ever wanted. The rest were still removed.
   */
  failed: { sha256: string; error: string }[];
}

export async function collectGarbage(
  deps: { records: BlobRepository; store: BlobStore },
  options: { before: number; dryRun: boolean },
): Promise<GarbageReport> {
  const garbage = options.dryRun
    ? await deps.records.unreferenced(options.before)
    : await deps.records.deleteUnreferenced(options.before);
  const failed: GarbageReport["failed"] = [];
  if (!options.dryRun)
    for (const blob of garbage) {
      try {
        await deps.store.remove(blob.sha256);
      } catch (error) {
        failed.push({ sha256: blob.sha256, error: error instanceof Error ? error.message : String(error) });
      }
    }
  const kept = new Set(failed.map((f) => f.sha256));
  const bytes = garbage.reduce((sum, blob) => sum + (kept.has(blob.sha256) ? 0 : blob.size), 0);
  return { dryRun: options.dryRun, blobs: garbage, bytes, failed };
}
