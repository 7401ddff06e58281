// The ecosystem seam: one MirrorKind per config `type` (`pypi`, later `oci`). A kind brings its
// mirror schema and resolver (config), and opens a runtime per mirror: the sync step the generic
// run lifecycle calls, an optional watch probe for the generic watcher loop, its routes, its help
// section and the subject matcher hooks and the event stream use. The generic parts (config
// loading, store, fetcher, run lifecycle, scheduler, watcher, events, server) see only this.
// The composition root (src/app/) is the one place that lists the kinds.

import type { MirrorConfigBase } from "../config/base-mirror.js";
import type { MirrorSchemaKind } from "../config/mirror-schema-kind.js";
import type { Config } from "../config/schema.js";
import type { EventBus } from "../events/event-bus.js";
import type { SubjectMatcher } from "../events/subject-matcher.js";
import type { FileResponseLimiter } from "../http/file-response-limiter.js";
import type { RouteHandler } from "../http/route-handler.js";
import type { RouteTable } from "../http/route-table.js";
import type { Logger } from "../logging/logger.js";
import type { BlobStore } from "../store/blob-store.js";
import type { LagRepository as LagStore, StateRepositories } from "../store/state-repositories.js";
import type { BlobFetcher, BlobValidator } from "../sync/blob-fetcher.js";
import type { SyncStep } from "../sync/sync-step.js";
import type { WatchProbe } from "../sync/watch-probe.js";
import type { HostPolicy, UpstreamClient } from "../upstream/http-client.js";

export type { MirrorConfigBase as BaseMirrorConfig } from "../config/base-mirror.js";

/** What one mirror of any kind gets from the root: its config, client and fetcher. */
export interface MirrorHandle<C extends MirrorConfigBase = MirrorConfigBase> {
  readonly config: C;
  readonly client: UpstreamClient;
  readonly fetcher: BlobFetcher;
}

/** The shared parts a kind's runtime may use; built once at the composition root. */
export interface KindDeps {
  readonly config: Config;
  /** The state repositories; the SQLite backend also names its database file (see PullThrough). */
  readonly state: StateRepositories & { readonly sqlitePath?: string | undefined };
  readonly blobs: BlobStore;
  readonly events: EventBus;
  readonly lag: LagStore;
  readonly logger: Logger;
  /** The base URL clients reach this server at (fixed before any sync or request uses it). */
  readonly publicUrl: () => string;
  /**
   * Bounds the file bodies sent at once across every mirror of every kind (max_file_responses)
   * and holds the send buffers they share.
   */
  readonly fileResponses: FileResponseLimiter;
  /** Counts an upstream failure met while serving on demand (metrics, status). */
  readonly onUpstreamFailure: (mirror: string, error: unknown) => void;
}

/** One mirror as its kind runs it. */
export interface MirrorRuntime<C extends MirrorConfigBase = MirrorConfigBase> extends MirrorHandle<C> {
  /** The sync step the generic run lifecycle calls. */
  readonly sync: SyncStep;
  /** Cheap change detection for `watch:`; absent when the kind cannot watch. */
  readonly watchProbe: WatchProbe | undefined;
  /** Registers the mirror's client-facing routes (e.g. `/<mirror>/*rest`). */
  registerRoutes(table: RouteTable<RouteHandler>): void;
  /**
   * The kind's section of `/help/<mirror>` (an HTML fragment: `<h2>` sections of set-up
   * snippets), for a reader at `publicUrl`; the generic page (src/http/help-page.ts) puts the
   * title, the mirror's description and the station-wide parts around it.
   */
  renderHelp(ctx: { publicUrl: string; siteName: string }): string;
}

/** The kind, opened once per app for all its mirrors (shared caches, worker pools). */
export interface OpenKind<C extends MirrorConfigBase = MirrorConfigBase> {
  readonly subjects: SubjectMatcher;
  mirror(handle: MirrorHandle<C>): MirrorRuntime<C>;
  close(): Promise<void>;
}

/** A kind: its config (MirrorSchemaKind: schema, checks, resolver, subjects) and its runtime. */
export interface MirrorKind<C extends MirrorConfigBase = MirrorConfigBase> extends MirrorSchemaKind<C> {
  open(deps: KindDeps): OpenKind<C>;
  /** Checks a downloaded file before the store commits it (throws a coded error to refuse it). */
  readonly validateBlob?: BlobValidator;
  /**
   * Which hosts the mirror's upstream client may reach (UpstreamClientOptions.hostPolicy):
   * "allowlist" unless the kind's upstream names hosts of its own (a registry's storage
   * redirects and token realm).
   */
  readonly hostPolicy?: HostPolicy;
}
