// `max_cache_size`: blobs fetched on demand (any kind's) beyond the bound go, least recently used
// first; blobs a published snapshot lists are never candidates (the repository's query says so).
import type { BlobStore } from "../store/blob-store.js";
import type { BlobRepository, ProxyCacheRepository } from "../store/state-repositories.js";
import { SerialQueue } from "./serial-queue.js";

export interface CacheEvictionDeps {
  readonly proxyCache: Pick<ProxyCacheRepository, "fetchedBytes" | "evictionCandidates">;
  readonly blobRecords: Pick<BlobRepository, "delete">;
  readonly blobs: Pick<BlobStore, "remove">;
}

/**
 * One eviction at a time per proxy-cache repository (one per state backend): each reads the total,
 * then deletes with awaits between, so two at once would count the same bytes and evict twice.
 */
const queues = new WeakMap<object, SerialQueue>();

/** Evicts until what was fetched on demand fits `limit` (no bound: nothing). Returns the digests removed. */
export function evictFetchedBlobs(deps: CacheEvictionDeps, limit: number | undefined): Promise<string[]> {
  if (limit === undefined) return Promise.resolve([]);
  let queue = queues.get(deps.proxyCache);
  if (!queue) {
    queue = new SerialQueue();
    queues.set(deps.proxyCache, queue);
  }
  return queue.run(() => evict(deps, limit));
}

async function evict(deps: CacheEvictionDeps, limit: number): Promise<string[]> {
  const removed: string[] = [];
  let total = await deps.proxyCache.fetchedBytes();
  while (total > limit) {
    const victims = await deps.proxyCache.evictionCandidates(32);
    if (victims.length === 0) break;
    for (const victim of victims) {
      if (total <= limit) break;
      // The row first: a reader that finds no row refetches; an open file stays readable.
      await deps.blobRecords.delete(victim.sha256);
      await deps.blobs.remove(victim.sha256);
      removed.push(victim.sha256);
      total -= victim.size;
    }
  }
  return removed;
}
