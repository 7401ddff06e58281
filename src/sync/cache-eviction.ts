// `max_cache_size`: blobs fetched on demand (any kind's) beyond the bound go, least recently used
// first; blobs a published snapshot lists are never candidates (the repository's query says so).
import type { BlobStore } from "../store/blob-store.js";
import type { BlobRepository, ProxyCacheRepository } from "../store/state-repositories.js";

export interface CacheEvictionDeps {
  readonly proxyCache: Pick<ProxyCacheRepository, "fetchedBytes" | "evictionCandidates">;
  readonly blobRecords: Pick<BlobRepository, "delete">;
  readonly blobs: Pick<BlobStore, "remove">;
}

/** Evicts until what was fetched on demand fits `limit` (no bound: nothing). Returns the digests removed. */
export async function evictFetchedBlobs(
  deps: CacheEvictionDeps,
  limit: number | undefined,
): Promise<string[]> {
  if (limit === undefined) return [];
  const removed: string[] = [];
  let total = deps.proxyCache.fetchedBytes();
  while (total > limit) {
    const victims = deps.proxyCache.evictionCandidates(32);
    if (victims.length === 0) break;
    for (const victim of victims) {
      if (total <= limit) break;
      // The row first: a reader that finds no row refetches; an open file stays readable.
      deps.blobRecords.delete(victim.sha256);
      await deps.blobs.remove(victim.sha256);
      removed.push(victim.sha256);
      total -= victim.size;
    }
  }
  return removed;
}
