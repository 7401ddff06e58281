// `max_cache_size`: blobs fetched on demand (any kind's) beyond the bound go, least recently used
// first; blobs a published snapshot lists are never candidates (the repository's query says so).
import type { BlobStore } from "../store/blob-store.js";
import type { BlobRepository, ProxyCacheRepository } from "../store/state-repositories.js";

export interface CacheEvictionDeps {
  readonly proxyCache: Pick<ProxyCacheRepository, "fetchedBytes" | "evictionCandidates">;
  readonly blobRecords: Pick<BlobRepository, "delete">;
  readonly blobs: Pick<BlobStore, "remove">;
}

/**
 * Evictions in progress, per proxy-cache repository (one per state backend). They run one after
 * another: each reads the total, then deletes with awaits in between, so two at once would both
 * count the same bytes as still there and evict twice as much.
 */
const running = new WeakMap<object, Promise<unknown>>();

/** Evicts until what was fetched on demand fits `limit` (no bound: nothing). Returns the digests removed. */
export function evictFetchedBlobs(deps: CacheEvictionDeps, limit: number | undefined): Promise<string[]> {
  if (limit === undefined) return Promise.resolve([]);
  const before = running.get(deps.proxyCache) ?? Promise.resolve();
  const run = before.then(() => evict(deps, limit));
  const tail = run.catch(() => undefined);
  running.set(deps.proxyCache, tail);
  void tail.then(() => {
    if (running.get(deps.proxyCache) === tail) running.delete(deps.proxyCache);
  });
  return run;
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
