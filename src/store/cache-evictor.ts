// Keeps the blobs fetched on demand (every mirror, every kind) within `max_cache_size`: least
// recently used first, never a blob a published snapshot lists or a stored manifest references
// (ProxyCacheRepository.evictionCandidates). Evicting a manifest drops its references
// (BlobRepository.delete), so what only it referenced becomes a candidate in the next round.
import type { BlobStore } from "./blob-store.js";
import type { BlobRepository, ProxyCacheRepository } from "./state-repositories.js";

export interface CacheEvictorDeps {
  readonly cache: Pick<ProxyCacheRepository, "fetchedBytes" | "evictionCandidates">;
  readonly records: Pick<BlobRepository, "delete">;
  readonly store: Pick<BlobStore, "remove">;
  /** The bound in bytes; undefined: no bound. */
  readonly maxBytes: number | undefined;
}

const BATCH = 32;

export class CacheEvictor {
  readonly #deps: CacheEvictorDeps;
  #running: Promise<number> | undefined;
  #again = false;

  constructor(deps: CacheEvictorDeps) {
    this.#deps = deps;
  }

  /**
   * Evicts until the fetched bytes are within the bound (or nothing more may go); one pass at a
   * time, a call during a pass runs another after it. Resolves with the bytes evicted.
   */
  evictIfNeeded(): Promise<number> {
    if (this.#deps.maxBytes === undefined) return Promise.resolve(0);
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.evictIfNeeded();
      }
    });
    return this.#running;
  }

  async #pass(): Promise<number> {
    const limit = this.#deps.maxBytes as number;
    const { cache, records, store } = this.#deps;
    let total = cache.fetchedBytes();
    let evicted = 0;
    while (total > limit) {
      const victims = cache.evictionCandidates(BATCH);
      if (victims.length === 0) break;
      for (const victim of victims) {
        if (total <= limit) break;
        // The record first: a reader that finds no record fetches again rather than trusting a
        // file that is about to go.
        records.delete(victim.sha256);
        await store.remove(victim.sha256);
        total -= victim.size;
        evicted += victim.size;
      }
    }
    return evicted;
  }
}
