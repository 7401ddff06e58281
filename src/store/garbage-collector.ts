// Garbage collection across every mirror of every kind. The state says what is live (snapshots,
// blobs fetched on demand, recently used blobs, and what any of those references, transitively:
// BlobRepository.unreferenced); this removes the rest from the blob store and then its record.
// A blob some kept parent references (an OCI index its manifests, a manifest its layers) is never
// collected, whatever the kind that recorded the reference.
import type { BlobStore } from "./blob-store.js";
import type { BlobRepository, BlobRow } from "./state-repositories.js";

export interface GarbageReport {
  dryRun: boolean;
  /** What was removed (or, in a dry run, would be). */
  blobs: BlobRow[];
  bytes: number;
}

export async function collectGarbage(
  deps: { records: BlobRepository; store: BlobStore },
  options: { before: number; dryRun: boolean },
): Promise<GarbageReport> {
  const garbage = await deps.records.unreferenced(options.before);
  let bytes = 0;
  for (const blob of garbage) {
    if (!options.dryRun) {
      await deps.store.remove(blob.sha256);
      await deps.records.delete(blob.sha256);
    }
    bytes += blob.size;
  }
  return { dryRun: options.dryRun, blobs: garbage, bytes };
}
