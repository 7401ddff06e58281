// The composition root: one state store, one blob store, one event bus and hook runner, one lag
// store, and per mirror one upstream client, one blob fetcher (so in-flight downloads are shared
// by syncs and clients alike) and the runtime its kind opens (src/app/mirror-kinds.ts). Commands
// and the server build this once and close it on exit; components get the parts they use.
import { appendFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config, MirrorConfig } from "../config/schema.js";
import type { MirrorRuntime, OpenKind } from "../ecosystem/mirror-kind.js";
import { ConfigError, UnknownMirrorError } from "../errors.js";
import { EventBus } from "../events/event-bus.js";
import { HookRunner } from "../events/hook-runner.js";
import type { SubjectMatcher } from "../events/subject-matcher.js";
import { FileResponseLimiter } from "../http/file-response-limiter.js";
import { fallbackLogger, type Logger } from "../logging/logger.js";
import type { BlobStore } from "../store/blob-store.js";
import { FsBlobStore } from "../store/fs/fs-blob-store.js";
import type { LagRepository } from "../store/state-repositories.js";
import { StateStore } from "../store/state-store.js";
import { BlobFetcher } from "../sync/blob-fetcher.js";
import { LiveProgress } from "../sync/live-progress.js";
import { UpstreamClient } from "../upstream/http-client.js";
import { UpstreamFailures } from "../upstream/upstream-failures.js";
import { DEFAULT_SUBJECTS, kindOf } from "./mirror-kinds.js";
import { PublicUrl } from "./public-url.js";

export type MirrorContext = MirrorRuntime<MirrorConfig>;

export class App {
  readonly config: Config;
  readonly dataDir: string;
  readonly state: StateStore;
  readonly blobs: BlobStore;
  readonly logsDir: string;
  /** Sync and release events, delivered to hooks and to `GET /api/v1/events`. */
  readonly events: EventBus;
  /** The process's log (JSON lines on stderr), made once by the CLI. */
  readonly logger: Logger;
  readonly hooks: HookRunner;
  /** How events of a mirror name and version their subject (hooks, SSE filters): its kind's rules. */
  readonly matcherFor = (mirror: string | undefined): SubjectMatcher => {
    const type = this.config.mirrors.find((m) => m.name === mirror)?.type;
    return (type === undefined ? undefined : kindOf(type)?.subjects) ?? DEFAULT_SUBJECTS;
  };
  readonly lag: LagRepository;
  /** The running syncs' figures (API, status page), published as throttled sync.progress events. */
  readonly progress: LiveProgress;
  /** The base URL clients reach this server at (fixed by `serve` at listen time when not configured). */
  readonly publicUrls: PublicUrl;
  /** Upstream failures met while serving on demand, per mirror (for metrics and status). */
  readonly upstreamFailures = new UpstreamFailures();
  /** The file bodies being sent, across every mirror of every kind (max_file_responses). */
  readonly fileResponses: FileResponseLimiter;
  readonly #mirrors = new Map<string, MirrorContext>();
  readonly #kinds = new Map<string, OpenKind>();

  private constructor(config: Config, state: StateStore, blobs: BlobStore, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.events = new EventBus({ logger });
    this.progress = new LiveProgress({ publish: (event) => this.events.emitTransient(event) });
    this.dataDir = resolve(config.dataDir);
    this.state = state;
    this.blobs = blobs;
    this.logsDir = resolve(this.dataDir, "logs");
    this.publicUrls = new PublicUrl(config.publicUrl, config.publicUrlConfigured);
    this.lag = state.lag;
    const fileResponses = new FileResponseLimiter(config.maxFileResponses);
    this.fileResponses = fileResponses;
    for (const mirror of config.mirrors) {
      const kind = kindOf(mirror.type);
      if (!kind)
        throw new ConfigError(
          [`mirrors.${mirror.name}.type: no mirror kind "${mirror.type}"`],
          config.source,
        );
      let open = this.#kinds.get(kind.type);
      if (!open) {
        open = kind.open({
          config,
          state,
          blobs,
          events: this.events,
          lag: this.lag,
          logger,
          publicUrl: () => this.publicUrls.get(),
          fileResponses,
          onUpstreamFailure: (name, error) => this.upstreamFailures.record(name, error),
        });
        this.#kinds.set(kind.type, open);
      }
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
        hostPolicy: kind.hostPolicy ?? "allowlist",
      });
      const fetcher = new BlobFetcher(blobs, state, client, {
        retries: mirror.retries,
        backoffMs: mirror.retryBackoffMs,
        fillTimeoutMs: mirror.fillTimeoutMs,
        maxFileSize: mirror.maxFileSize,
        abandonGraceMs: mirror.abandonGraceMs,
        verifyContent: kind.validateBlob,
      });
      this.#mirrors.set(mirror.name, open.mirror({ config: mirror, client, fetcher }) as MirrorContext);
    }
    mkdirSync(this.logsDir, { recursive: true });
    this.hooks = new HookRunner(config.hooks, {
      matcherFor: this.matcherFor,
      logFile: join(this.logsDir, "hooks.log"),
      logger,
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
  }

  /** The base URL for URLs in events and webhooks. */
  get publicUrl(): string {
    return this.publicUrls.get();
  }

  static async open(config: Config, options: { logger?: Logger } = {}): Promise<App> {
    const dataDir = resolve(config.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const blobs = new FsBlobStore(dataDir);
    await blobs.init();
    const state = new StateStore(resolve(dataDir, "state.sqlite"));
    const app = new App(config, state, blobs, options.logger ?? fallbackLogger());
    for (const mirror of config.mirrors) await state.mirrors.ensure(mirror.name);
    return app;
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
    await Promise.all([...this.#kinds.values()].map((kind) => kind.close()));
    await Promise.all([...this.#mirrors.values()].map((m) => m.client.close().catch(() => undefined)));
    this.state.close();
  }
}
