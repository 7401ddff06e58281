// The composition root: one state store, one blob store, and per mirror one upstream client and
// one blob fetcher (so in-flight downloads are shared by syncs and clients alike). Commands and
// the server build this once and close it on exit.
import { appendFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config, MirrorConfig } from "./config/schema.js";
import { describeError, UnknownMirrorError } from "./errors.js";
import { EventBus } from "./events/event-bus.js";
import { HookRunner } from "./events/hook-runner.js";
import { PullThrough } from "./pypi/pull-through.js";
import { verifyWheelDownload } from "./pypi/wheel-metadata.js";
import type { BlobStore } from "./store/blob-store.js";
import { FsBlobStore } from "./store/fs/fs-blob-store.js";
import type { LagRepository } from "./store/state-repositories.js";
import { StateStore } from "./store/state-store.js";
import { BlobFetcher } from "./sync/blob-fetcher.js";
import { lagStoreOf } from "./sync/mirror-status.js";
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
  /** Sync and release events, delivered to hooks and to `GET /api/v1/events`. */
  readonly events = new EventBus();
  readonly hooks: HookRunner;
  readonly lag: LagRepository;
  /**
   * The base URL clients reach this server at, for URLs in events and webhooks: `public_url`, or
   * (when it is not set) what `serve` finds out once it listens.
   */
  publicUrl: string;
  /** Upstream failures met while serving on demand, per mirror (for metrics and status). */
  readonly upstreamFailures = new Map<string, { count: number; last: string; at: number }>();
  readonly #mirrors = new Map<string, MirrorContext>();

  private constructor(config: Config, state: StateStore, blobs: BlobStore) {
    this.config = config;
    this.dataDir = resolve(config.dataDir);
    this.state = state;
    this.blobs = blobs;
    this.logsDir = resolve(this.dataDir, "logs");
    this.publicUrl = config.publicUrl;
    for (const mirror of config.mirrors) {
      const client = new UpstreamClient({
        allowedHosts: mirror.allowedHosts,
        timeoutMs: mirror.upstreamTimeoutMs,
        retries: mirror.retries,
        backoffMs: mirror.retryBackoffMs,
        maxFails: mirror.maxFails,
        failTimeoutMs: mirror.failTimeoutMs,
        authorization: mirror.upstreamAuth && {
          origin: mirror.upstreamAuth.origin,
          header: mirror.upstreamAuth.basicHeader(),
        },
      });
      const fetcher = new BlobFetcher(blobs, state, client, {
        retries: mirror.retries,
        backoffMs: mirror.retryBackoffMs,
        fillTimeoutMs: mirror.fillTimeoutMs,
        maxFileSize: mirror.maxFileSize,
        abandonGraceMs: mirror.abandonGraceMs,
        verifyContent: verifyWheelDownload,
      });
      this.#mirrors.set(mirror.name, { config: mirror, client, fetcher });
      state.ensureMirror(mirror.name);
    }
    mkdirSync(this.logsDir, { recursive: true });
    // The same instance the status code reads (one per state store).
    this.lag = lagStoreOf(state);
    this.hooks = new HookRunner(config.hooks, {
      logFile: join(this.logsDir, "hooks.log"),
      onResult: (result) => {
        // A hook's outcome (and a command's output) goes into the log of the run that caused it.
        const event = result.event;
        const runId = "runId" in event ? event.runId : undefined;
        const mirror = "mirror" in event ? event.mirror : undefined;
        if (runId === undefined || mirror === undefined) return;
        const lines = [
          `hook ${result.hook} (${result.kind}) for ${event.type}: ${result.ok ? "ok" : `failed: ${result.error ?? "unknown error"}`} after ${result.attempts} attempt(s)`,
          ...(result.output
            ? result.output
                .trimEnd()
                .split("\n")
                .map((line) => `  | ${line}`)
            : []),
        ];
        try {
          appendFileSync(join(this.logsDir, mirror, `${runId}.log`), `${lines.join("\n")}\n`);
        } catch {
          // The delivery log (hooks.log) has it too.
        }
      },
    });
    this.hooks.attach(this.events);
    this.pullThrough = new PullThrough(this, state.proxyCache, {
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
    const blobs = new FsBlobStore(dataDir);
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
    await this.hooks.idle();
    await this.hooks.close();
    await this.pullThrough.close();
    await Promise.all([...this.#mirrors.values()].map((m) => m.client.close().catch(() => undefined)));
    this.state.close();
  }
}
