// The composition root: one state store, one blob store, and per mirror one upstream client and
// one blob fetcher (so in-flight downloads are shared by syncs and clients alike). Commands and
// the server build this once and close it on exit.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Config, MirrorConfig } from "./config/schema.js";
import { describeError, UnknownMirrorError } from "./errors.js";
import { BlobStore } from "./store/blob-store.js";
import { ProxyCacheStore } from "./store/proxy-cache-store.js";
import { StateStore } from "./store/state-store.js";
import { BlobFetcher } from "./sync/blob-fetcher.js";
import { PullThrough } from "./sync/pull-through.js";
import { UpstreamClient } from "./upstream/http-client.js";

export interface MirrorContext {
  config: MirrorConfig;
  client: UpstreamClient;
  fetcher: BlobFetcher;
}

export class AppContext {
  readonly config: Config;
  readonly dataDir: string;
  readonly state: StateStore;
  readonly blobs: BlobStore;
  readonly logsDir: string;
  readonly pullThrough: PullThrough;
  /** Upstream failures met while serving on demand, per mirror (for metrics and status). */
  readonly upstreamFailures = new Map<string, { count: number; last: string; at: number }>();
  readonly #mirrors = new Map<string, MirrorContext>();

  private constructor(config: Config, state: StateStore, blobs: BlobStore) {
    this.config = config;
    this.dataDir = resolve(config.dataDir);
    this.state = state;
    this.blobs = blobs;
    this.logsDir = resolve(this.dataDir, "logs");
    for (const mirror of config.mirrors) {
      const client = new UpstreamClient({
        allowedHosts: mirror.allowedHosts,
        timeoutMs: mirror.upstreamTimeoutMs,
        retries: mirror.retries,
        backoffMs: mirror.retryBackoffMs,
        maxFails: mirror.maxFails,
        failTimeoutMs: mirror.failTimeoutMs,
      });
      const fetcher = new BlobFetcher(blobs, state, client, {
        retries: mirror.retries,
        backoffMs: mirror.retryBackoffMs,
        fillTimeoutMs: mirror.fillTimeoutMs,
      });
      this.#mirrors.set(mirror.name, { config: mirror, client, fetcher });
      state.ensureMirror(mirror.name);
    }
    this.pullThrough = new PullThrough(this, new ProxyCacheStore(state.db), {
      onUpstreamFailure: (mirror, error) => {
        const entry = this.upstreamFailures.get(mirror) ?? { count: 0, last: "", at: 0 };
        entry.count++;
        entry.last = describeError(error);
        entry.at = Date.now();
        this.upstreamFailures.set(mirror, entry);
      },
    });
  }

  static async open(config: Config): Promise<AppContext> {
    const dataDir = resolve(config.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const blobs = new BlobStore(dataDir);
    await blobs.init();
    const state = new StateStore(resolve(dataDir, "state.sqlite"));
    return new AppContext(config, state, blobs);
  }

  mirror(name: string): MirrorContext {
    const mirror = this.#mirrors.get(name);
    if (!mirror) throw new UnknownMirrorError(name, [...this.#mirrors.keys()]);
    return mirror;
  }

  mirrors(): MirrorContext[] {
    return [...this.#mirrors.values()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.#mirrors.values()].map((m) => m.client.close().catch(() => undefined)));
    this.state.close();
  }
}
