// Pull-through: what a mirror has not synced is fetched from upstream when a client asks, once,
// and kept. Pages are cached for `index_ttl` and revalidated with ETag / If-Modified-Since;
// when upstream fails the cached page is served stale; upstream 404s are cached briefly. Files
// are downloaded by the shared single-flight fetcher, so every client asking for the same file
// reads the same growing temp file, and the bytes are verified before they are kept.
import type { MirrorHandle } from "../ecosystem/mirror-kind.js";
import { describeError, FetchAbandonedError, UpstreamStatusError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { type BlobStore, withBlob } from "../store/blob-store.js";
import type {
  ProxyCacheRepository as ProxyCacheStore,
  ProxyFileRow,
  ProxyPageRow,
  StateRepositories,
} from "../store/state-repositories.js";
import { evictFetchedBlobs } from "../sync/cache-eviction.js";
import type { InFlightDownload } from "../sync/in-flight-download.js";
import { parseOtherHash } from "../sync/other-hash.js";
import type { PageResponse } from "../upstream/http-client.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { parseDistributionFilename } from "./distribution-filename.js";
import { isIndexPattern, matchesIndex } from "./index-pattern.js";
import { encodeMirrorPath } from "./mirror-paths.js";
import type { RenderedPage } from "./page-work.js";
import { PageWorkerPool } from "./page-worker-pool.js";
import { isValidProjectName, normalizeProjectName } from "./project-page.js";
import { RenderedPageCache } from "./rendered-page-cache.js";
import { SIMPLE_INDEX_ACCEPT } from "./simple-index-content-type.js";
import { extractWheelMetadata } from "./wheel-metadata.js";

export type PageLookup =
  | {
      kind: "page";
      /** Identifies this version of the page upstream (for rendered-page caching). */
      version: string;
      /** The page rendered just now, when this lookup fetched it. */
      rendered?: RenderedPage;
      /** Why the page is stale, when upstream could not be asked. */
      stale: string | undefined;
    }
  | { kind: "not-found"; reason: string };

export type CacheStatus = "HIT" | "MISS" | "COALESCED";

export interface PullThroughEvents {
  /** An upstream failure while serving on demand (counted in metrics, shown in status). */
  onUpstreamFailure?(mirror: string, error: unknown): void;
}

const LIST_KEY = "";
const ACCESS_TOUCH_MS = 60_000;
/** Page validators kept in memory (a few hundred bytes each). */
const META_ENTRIES = 20_000;

/** A PyPI mirror as the pull-through cache uses it. */
export type PypiMirrorHandle = MirrorHandle<PypiMirrorConfig>;
type MirrorContext = PypiMirrorHandle;

/** What the pull-through cache uses of the app: the stores and the cache bound. */
export interface PullThroughDeps {
  /** The SQLite store also hands its database path to the page worker (see page-worker.ts). */
  readonly state: Pick<StateRepositories, "blobs"> & { readonly sqlitePath?: string | undefined };
  readonly blobs: BlobStore;
  /** Bound on the blobs fetched on demand (all mirrors together); undefined: unbounded. */
  readonly maxCacheSize: number | undefined;
  /** Where best-effort writes that failed (access times, digests, eviction) are reported. */
  readonly logger: Logger;
}

export class PullThrough {
  readonly #app: PullThroughDeps;
  readonly #cache: ProxyCacheStore;
  readonly #events: PullThroughEvents;
  readonly #pageFlights = new Map<string, Promise<PageLookup>>();
  readonly #touched = new Map<string, number>();
  readonly #workers = new PageWorkerPool();
  /**
   * The SQLite database, which the page worker opens itself to store a big page's rows
   * synchronously off the main thread (the SQLite backend's fast path). Undefined for any other
   * backend (and in-memory SQLite): the worker sends the rows back and this thread stores them
   * through the async ProxyCacheRepository.
   */
  readonly #dbPath: string | undefined;
  readonly #meta = new Map<string, ProxyPageRow>();
  readonly #rendered = new RenderedPageCache();
  readonly #renderFlights = new Map<string, Promise<RenderedPage | undefined>>();

  constructor(app: PullThroughDeps, cache: ProxyCacheStore, events: PullThroughEvents = {}) {
    this.#app = app;
    this.#dbPath = app.state.sqlitePath;
    this.#cache = cache;
    this.#events = events;
  }

  /** Ends the page worker; the app calls this on close. */
  close(): Promise<void> {
    return this.#workers.close();
  }

  projectPage(mirror: MirrorContext, idx: string, project: string): Promise<PageLookup> {
    if (!isValidProjectName(project)) {
      return Promise.resolve({
        kind: "not-found",
        reason: `${JSON.stringify(project)} is not a project name`,
      });
    }
    return this.#page(mirror, idx, normalizeProjectName(project));
  }

  projectList(mirror: MirrorContext, idx: string): Promise<PageLookup> {
    return this.#page(mirror, idx, LIST_KEY);
  }

  /**
   * A page's validators, from memory when known (no store round trip on a hit): the SQLite row
   * carries the page body, and even a read that skips it costs a big page's overflow chain.
   */
  #page(mirror: MirrorContext, idx: string, project: string): Promise<PageLookup> {
    const key = `${mirror.config.name}\0${idx}\0${project}`;
    const known = this.#meta.get(key);
    if (known) return this.#pageFrom(mirror, idx, project, known);
    return this.#cache.pageMeta(mirror.config.name, idx, project).then((row) => {
      if (row?.status === 200) this.#rememberMeta(row);
      return this.#pageFrom(mirror, idx, project, row);
    });
  }

  /**
   * One fetch per page at a time: concurrent requests for it share the answer. Synchronous from
   * the flight lookup to setting it, so two requests that both missed cannot start two fetches.
   */
  #pageFrom(
    mirror: MirrorContext,
    idx: string,
    project: string,
    cached: ProxyPageRow | undefined,
  ): Promise<PageLookup> {
    const key = `${mirror.config.name}\0${idx}\0${project}`;
    if (cached && this.#isFresh(mirror, cached)) return Promise.resolve(toLookup(cached, undefined));
    let flight = this.#pageFlights.get(key);
    if (!flight) {
      flight = this.#refresh(mirror, idx, project, cached).finally(() => this.#pageFlights.delete(key));
      this.#pageFlights.set(key, flight);
    }
    return flight;
  }

  #rememberMeta(row: ProxyPageRow): void {
    const key = `${row.mirror}\0${row.idx}\0${row.project}`;
    this.#meta.delete(key);
    this.#meta.set(key, row);
    if (this.#meta.size > META_ENTRIES) {
      const oldest = this.#meta.keys().next().value;
      if (oldest !== undefined) this.#meta.delete(oldest);
    }
  }

  #isFresh(mirror: MirrorContext, row: ProxyPageRow): boolean {
    const ttl = row.status === 200 ? mirror.config.indexTtlMs : mirror.config.negativeTtlMs;
    return Date.now() - row.fetchedAt < ttl;
  }

  async #refresh(
    mirror: MirrorContext,
    idx: string,
    project: string,
    cached: ProxyPageRow | undefined,
  ): Promise<PageLookup> {
    const config = mirror.config;
    // Every segment percent-encoded: what a client sent can never add a query, a fragment or a
    // dot segment to the upstream URL.
    const indexUrl = `${config.upstream}/${encodeMirrorPath(idx)}/`;
    const url = project === LIST_KEY ? indexUrl : `${indexUrl}${encodeURIComponent(project)}/`;
    const now = Date.now();
    let response: PageResponse;
    try {
      const conditional =
        cached?.status === 200
          ? { etag: cached.etag ?? undefined, lastModified: cached.lastModified ?? undefined }
          : {};
      // The deadline aborts the upstream request itself (a Promise.race would answer the client
      // but leave the request holding a pooled connection while upstream drips).
      response = await mirror.client.fetchPage(url, SIMPLE_INDEX_ACCEPT, conditional, {
        retries: 0,
        bytes: true,
        deadlineMs: config.upstreamTimeoutMs,
      });
      if (response.status === 304 && cached) {
        await this.#cache.touchPage(config.name, idx, project, now);
        this.#rememberMeta({ ...cached, fetchedAt: now, body: null });
        return toLookup({ ...cached, fetchedAt: now }, undefined);
      }
      if (response.status === 404) {
        this.#meta.delete(`${config.name}\0${idx}\0${project}`);
        await this.#cache.putPage(
          {
            mirror: config.name,
            idx,
            project,
            fetchedAt: now,
            status: 404,
            etag: null,
            lastModified: null,
            body: null,
          },
          [],
        );
        return { kind: "not-found", reason: `upstream has no ${url}` };
      }
      if (response.status !== 200) throw new UpstreamStatusError(url, response.status);
      const pageDir = project === LIST_KEY ? idx.split("/") : [...idx.split("/"), project];
      // Parsed and rendered in the worker; its files arrive in batches, each stored in its own
      // short transaction, so the event loop stays free however big the page is.
      const batches: ProxyFileRow[][] = [];
      const { stored, rendered } = await this.#workers.parse(
        {
          mirror: config.name,
          project,
          bytes: response.bytes ?? [Buffer.from(response.body)],
          contentType: response.contentType,
          url: response.url,
          upstream: config.upstream,
          allowedHosts: config.allowedHosts,
          pageDir,
          maxLinks: config.maxPageLinks,
          ...(this.#dbPath === undefined ? {} : { dbPath: this.#dbPath }),
          idx,
          fetchedAt: now,
          etag: response.etag ?? null,
          lastModified: response.lastModified ?? null,
        },
        (rows) => batches.push(rows),
      );
      // One short transaction per batch, yielding between them: other requests go on meanwhile.
      for (const rows of batches) {
        await this.#cache.putFiles(rows);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const row: ProxyPageRow = {
        mirror: config.name,
        idx,
        project,
        fetchedAt: now,
        status: 200,
        etag: response.etag ?? null,
        lastModified: response.lastModified ?? null,
        body: stored === undefined ? null : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength),
      };
      if (stored !== undefined) await this.#cache.putPage(row, []);
      this.#rememberMeta({ ...row, body: null });
      const lookup = toLookup(row, undefined);
      if (lookup.kind === "page") {
        const prefix = renderedKeyPrefix(config.name, idx, project);
        this.#rendered.deleteOtherVersions(prefix, prefix + lookup.version);
        this.#rendered.set(prefix + lookup.version, rendered);
        return { ...lookup, rendered };
      }
      return lookup;
    } catch (error) {
      this.#events.onUpstreamFailure?.(config.name, error);
      // Serve what we had, and say it is stale; an error is never cached as a page.
      if (cached?.status === 200) return toLookup(cached, describeError(error));
      throw error;
    }
  }

  /**
   * A page as rendered bytes in both formats: from memory when this version was rendered before,
   * else rendered again (in the worker) from the stored body. Undefined when the store no longer
   * has the page.
   */
  renderedPage(
    mirror: MirrorContext,
    idx: string,
    project: string,
    lookup: Extract<PageLookup, { kind: "page" }>,
  ): Promise<RenderedPage | undefined> {
    const key = project === LIST_KEY ? project : normalizeProjectName(project);
    const prefix = renderedKeyPrefix(mirror.config.name, idx, key);
    const hit = this.#rendered.get(prefix + lookup.version) ?? lookup.rendered;
    if (hit) return Promise.resolve(hit);
    let flight = this.#renderFlights.get(prefix);
    if (!flight) {
      flight = this.#renderStored(mirror, idx, key, prefix).finally(() => this.#renderFlights.delete(prefix));
      this.#renderFlights.set(prefix, flight);
    }
    return flight;
  }

  async #renderStored(
    mirror: MirrorContext,
    idx: string,
    project: string,
    prefix: string,
  ): Promise<RenderedPage | undefined> {
    const row = await this.#cache.page(mirror.config.name, idx, project);
    if (row?.status !== 200 || row.body === null) return undefined;
    const pageDir = project === LIST_KEY ? idx.split("/") : [...idx.split("/"), project];
    const rendered = await this.#workers.render(project, row.body, pageDir);
    this.#rendered.set(prefix + pageVersion(row), rendered);
    return rendered;
  }

  /**
   * The upstream file behind a mirror path. A path not listed on any page fetched so far is
   * resolved by fetching its project's page (the project is read from the filename), so a direct
   * file URL works too, and its digest is known before anything is downloaded.
   */
  async resolveFile(mirror: MirrorContext, path: string): Promise<ProxyFileRow | undefined> {
    const known = await this.#cache.file(mirror.config.name, path);
    if (known) return known;
    const filename = path.split("/").at(-1) ?? "";
    const parsed = parseDistributionFilename(filename);
    if (!parsed) return undefined;
    if (!isValidProjectName(parsed.project)) return undefined;
    const indexes = candidateIndexes(mirror.config.indexes, path);
    for (const idx of indexes) {
      const lookup = await this.projectPage(mirror, idx, parsed.project);
      if (lookup.kind !== "page") continue;
      const found = await this.#cache.file(mirror.config.name, path);
      if (found) return found;
    }
    return undefined;
  }

  /** Whether the file's bytes are in the store now (a HIT), as the blob's digest. */
  async cachedBlob(row: ProxyFileRow): Promise<string | undefined> {
    if (row.sha256 === null) return undefined;
    if ((await this.#app.state.blobs.get(row.sha256)) === undefined) return undefined;
    if ((await this.#app.blobs.stat(row.sha256)) === undefined) return undefined;
    this.#touch(row.sha256);
    return row.sha256;
  }

  /** Starts (or joins) the download of a file; every request for it reads the same bytes. */
  download(mirror: MirrorContext, row: ProxyFileRow): { download: InFlightDownload; cache: CacheStatus } {
    const request = {
      url: row.upstreamUrl,
      filename: row.filename,
      sha256: row.hashSource === "index" ? (row.sha256 ?? undefined) : undefined,
      otherHash: row.sha256 === null ? parseOtherHash(row.otherHash) : undefined,
      size: row.size ?? undefined,
      origin: "fetch",
    };
    const joined = mirror.fetcher.inFlight(request) !== undefined;
    const download = mirror.fetcher.fetch(request);
    if (!joined) {
      download.done
        .then(
          async (blob) => {
            await this.#cache.setDigest(
              mirror.config.name,
              row.path,
              blob.sha256,
              blob.size,
              blob.hashSource,
            );
            await this.#evictIfNeeded();
          },
          (error: unknown) => {
            // Abandoned because every client left: not upstream's fault.
            if (!(error instanceof FetchAbandonedError))
              this.#events.onUpstreamFailure?.(mirror.config.name, error);
          },
        )
        .catch((error: unknown) =>
          this.#app.logger.warn(
            { mirror: mirror.config.name, err: error },
            `${mirror.config.name}: after a download: ${describeError(error)}`,
          ),
        );
    }
    return { download, cache: joined ? "COALESCED" : "MISS" };
  }

  /**
   * The core metadata of a file (PEP 658): upstream's `.metadata` when offered (verified against
   * its hash), else extracted from the wheel if the wheel is in the store. Undefined when neither.
   */
  async metadata(
    mirror: MirrorContext,
    row: ProxyFileRow,
  ): Promise<{ sha256: string; size: number } | undefined> {
    if (row.metadataSha256) {
      const blob = await this.#app.state.blobs.get(row.metadataSha256);
      if (blob && (await this.#app.blobs.has(row.metadataSha256)))
        return { sha256: blob.sha256, size: blob.size };
    }
    if (row.metadataOffered) {
      const blob = await mirror.fetcher.fetch({
        url: `${row.upstreamUrl}.metadata`,
        filename: `${row.filename}.metadata`,
        sha256: row.metadataSha256 ?? undefined,
        origin: "fetch",
      }).done;
      return { sha256: blob.sha256, size: blob.size };
    }
    const wheel = await this.cachedBlob(row);
    if (wheel === undefined || parseDistributionFilename(row.filename)?.kind !== "wheel") return undefined;
    const content = await withBlob(this.#app.blobs, wheel, (bytes) =>
      extractWheelMetadata(bytes, { filename: row.filename }),
    );
    const sha256 = await this.#app.blobs.putBuffer(content, `${row.filename}.metadata`);
    await this.#app.state.blobs.record(sha256, content.length, "fetch", Date.now());
    return { sha256, size: content.length };
  }

  /** At most once a minute per blob, and off the response's path (an access time only orders eviction). */
  #touch(sha256: string): void {
    const now = Date.now();
    if (now - (this.#touched.get(sha256) ?? 0) < ACCESS_TOUCH_MS) return;
    this.#touched.set(sha256, now);
    this.#app.state.blobs
      .touch(sha256, now)
      .catch((error: unknown) => this.#app.logger.warn({ err: error }, `blob ${sha256}: touch failed`));
  }

  /**
   * LRU eviction of blobs fetched on demand beyond `max_cache_size` (published blobs are never
   * evicted); the shared eviction runs one at a time however many downloads end together.
   */
  async #evictIfNeeded(): Promise<void> {
    const removed = await evictFetchedBlobs(
      { proxyCache: this.#cache, blobRecords: this.#app.state.blobs, blobs: this.#app.blobs },
      this.#app.maxCacheSize,
    );
    for (const sha256 of removed) this.#touched.delete(sha256);
  }
}

/**
 * The indexes whose page may list a file: its own directory and the directories above it when
 * they are indexes this mirror serves (longest first), then the concrete configured indexes.
 */
function candidateIndexes(entries: readonly string[], path: string): string[] {
  const dirs = path.split("/").slice(0, -1);
  const found: string[] = [];
  for (let n = dirs.length; n >= 1; n--) {
    if (matchesIndex(entries, dirs.slice(0, n))) found.push(dirs.slice(0, n).join("/"));
  }
  for (const entry of entries) {
    if (!isIndexPattern(entry) && !found.includes(entry)) found.push(entry);
  }
  return found;
}

function renderedKeyPrefix(mirror: string, idx: string, project: string): string {
  return `${mirror}\0${idx}\0${project}\0`;
}

/**
 * What identifies a page's content: upstream's validators when it sends them (a 304 keeps the
 * version, so the rendered bytes stay), else when it was stored.
 */
function pageVersion(row: ProxyPageRow): string {
  return row.etag ?? row.lastModified ?? `t${row.fetchedAt}`;
}

function toLookup(row: ProxyPageRow, stale: string | undefined): PageLookup {
  if (row.status !== 200) return { kind: "not-found", reason: "upstream has no such page" };
  return { kind: "page", version: pageVersion(row), stale };
}
