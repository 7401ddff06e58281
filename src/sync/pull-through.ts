// Pull-through: what a mirror has not synced is fetched from upstream when a client asks, once,
// and kept. Pages are cached for `index_ttl` and revalidated with ETag / If-Modified-Since;
// when upstream fails the cached page is served stale; upstream 404s are cached briefly. Files
// are downloaded by the shared single-flight fetcher, so every client asking for the same file
// reads the same growing temp file, and the bytes are verified before they are kept.
import type { AppContext, MirrorContext } from "../app-context.js";
import { describeError, UpstreamStatusError } from "../errors.js";
import type { ServedFile } from "../http/simple-pages.js";
import { isSha256Hex } from "../store/blob-store.js";
import type {
  ProxyCacheStore,
  ProxyFileRow,
  ProxyPageBody,
  ProxyPageRow,
} from "../store/proxy-cache-store.js";
import { parseDistributionFilename } from "../upstream/distribution-filename.js";
import type { PageResponse } from "../upstream/http-client.js";
import { normalizeProjectName, type ProjectPage } from "../upstream/project-page.js";
import {
  parseSimpleIndex,
  parseSimpleProjectList,
  SIMPLE_INDEX_ACCEPT,
} from "../upstream/simple-index-content-type.js";
import type { InFlightDownload } from "./blob-fetcher.js";
import { mirrorPathFor } from "./mirror-paths.js";
import { extractWheelMetadata } from "./wheel-metadata.js";

export type PageLookup =
  | {
      kind: "page";
      /** Identifies this version of the page (for rendered-page caching and ETags). */
      version: string;
      body: ProxyPageBody;
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

export class PullThrough {
  readonly #app: AppContext;
  readonly #cache: ProxyCacheStore;
  readonly #events: PullThroughEvents;
  readonly #pageFlights = new Map<string, Promise<PageLookup>>();
  readonly #touched = new Map<string, number>();

  constructor(app: AppContext, cache: ProxyCacheStore, events: PullThroughEvents = {}) {
    this.#app = app;
    this.#cache = cache;
    this.#events = events;
  }

  projectPage(mirror: MirrorContext, idx: string, project: string): Promise<PageLookup> {
    return this.#page(mirror, idx, normalizeProjectName(project));
  }

  projectList(mirror: MirrorContext, idx: string): Promise<PageLookup> {
    return this.#page(mirror, idx, LIST_KEY);
  }

  /** One fetch per page at a time: concurrent requests for it share the answer. */
  #page(mirror: MirrorContext, idx: string, project: string): Promise<PageLookup> {
    const key = `${mirror.config.name}\0${idx}\0${project}`;
    const cached = this.#cache.page(mirror.config.name, idx, project);
    if (cached && this.#isFresh(mirror, cached)) return Promise.resolve(toLookup(cached, undefined));
    let flight = this.#pageFlights.get(key);
    if (!flight) {
      flight = this.#refresh(mirror, idx, project, cached).finally(() => this.#pageFlights.delete(key));
      this.#pageFlights.set(key, flight);
    }
    return flight;
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
    const url = project === LIST_KEY ? `${config.upstream}/${idx}/` : `${config.upstream}/${idx}/${project}/`;
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
        deadlineMs: config.upstreamTimeoutMs,
      });
      if (response.status === 304 && cached) {
        this.#cache.touchPage(config.name, idx, project, now);
        return toLookup({ ...cached, fetchedAt: now }, undefined);
      }
      if (response.status === 404) {
        this.#cache.putPage(
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
      const { body, files } =
        project === LIST_KEY ? this.#listBody(response) : this.#projectBody(mirror, response, project);
      const row: ProxyPageRow = {
        mirror: config.name,
        idx,
        project,
        fetchedAt: now,
        status: 200,
        etag: response.etag ?? null,
        lastModified: response.lastModified ?? null,
        body: JSON.stringify(body),
      };
      this.#cache.putPage(row, files);
      return toLookup(row, undefined);
    } catch (error) {
      this.#events.onUpstreamFailure?.(config.name, error);
      // Serve what we had, and say it is stale; an error is never cached as a page.
      if (cached?.status === 200) return toLookup(cached, describeError(error));
      throw error;
    }
  }

  #listBody(response: PageResponse): { body: ProxyPageBody; files: ProxyFileRow[] } {
    const list = parseSimpleProjectList(response.body, response.contentType, response.url);
    return { body: { displayName: "", projects: list.projects }, files: [] };
  }

  #projectBody(
    mirror: MirrorContext,
    response: PageResponse,
    project: string,
  ): { body: ProxyPageBody; files: ProxyFileRow[] } {
    const page: ProjectPage = parseSimpleIndex(response.body, response.contentType, response.url, project);
    const served: ServedFile[] = [];
    const rows: ProxyFileRow[] = [];
    for (const file of page.files) {
      // The same rules as a sync: no hosts outside the allowlist, no dot segments, no unsafe paths.
      if (file.dotSegmentHref !== undefined || !mirror.client.isAllowed(file.url)) continue;
      const path = mirrorPathFor(mirror.config.upstream, file.url);
      if (path === null) continue;
      const given = file.hashes.sha256?.toLowerCase();
      const sha256 = given !== undefined && isSha256Hex(given) ? given : null;
      const metadataSha = file.coreMetadata === false ? undefined : file.coreMetadata.sha256?.toLowerCase();
      const metadataSha256 = metadataSha !== undefined && isSha256Hex(metadataSha) ? metadataSha : null;
      served.push({
        path,
        filename: file.filename,
        sha256,
        size: file.size ?? null,
        requiresPython: file.requiresPython ?? null,
        yanked: file.yanked === false ? null : file.yanked,
        uploadTime: file.uploadTime ?? null,
        metadataSha256,
        metadataOffered: file.coreMetadata !== false,
      });
      rows.push({
        mirror: mirror.config.name,
        path,
        project,
        filename: file.filename,
        upstreamUrl: file.url,
        sha256,
        hashSource: "index",
        size: file.size ?? null,
        metadataSha256,
        metadataOffered: file.coreMetadata !== false,
      });
    }
    return { body: { displayName: page.name || project, files: served }, files: rows };
  }

  /**
   * The upstream file behind a mirror path. A path not listed on any page fetched so far is
   * resolved by fetching its project's page (the project is read from the filename), so a direct
   * file URL works too, and its digest is known before anything is downloaded.
   */
  async resolveFile(mirror: MirrorContext, path: string): Promise<ProxyFileRow | undefined> {
    const known = this.#cache.file(mirror.config.name, path);
    if (known) return known;
    const filename = path.split("/").at(-1) ?? "";
    const parsed = parseDistributionFilename(filename);
    if (!parsed) return undefined;
    const indexes = [...mirror.config.indexes].sort(
      (a, b) => Number(path.startsWith(`${b}/`)) - Number(path.startsWith(`${a}/`)),
    );
    for (const idx of indexes) {
      const lookup = await this.#page(mirror, idx, parsed.project);
      if (lookup.kind !== "page") continue;
      const found = this.#cache.file(mirror.config.name, path);
      if (found) return found;
    }
    return undefined;
  }

  /** Whether the file's bytes are in the store now (a HIT), as the blob's digest. */
  async cachedBlob(row: ProxyFileRow): Promise<string | undefined> {
    if (row.sha256 === null) return undefined;
    if (this.#app.state.getBlob(row.sha256) === undefined) return undefined;
    if ((await this.#app.blobs.size(row.sha256)) === undefined) return undefined;
    this.#touch(row.sha256);
    return row.sha256;
  }

  /** Starts (or joins) the download of a file; every request for it reads the same bytes. */
  download(mirror: MirrorContext, row: ProxyFileRow): { download: InFlightDownload; cache: CacheStatus } {
    const request = {
      url: row.upstreamUrl,
      filename: row.filename,
      sha256: row.hashSource === "index" ? (row.sha256 ?? undefined) : undefined,
      size: row.size ?? undefined,
      origin: "fetch",
    };
    const joined = mirror.fetcher.inFlight(request) !== undefined;
    const download = mirror.fetcher.fetch(request);
    if (!joined) {
      download.done.then(
        (blob) => {
          this.#cache.setDigest(mirror.config.name, row.path, blob.sha256, blob.size, blob.hashSource);
          this.#evictIfNeeded();
        },
        (error: unknown) => this.#events.onUpstreamFailure?.(mirror.config.name, error),
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
      const blob = this.#app.state.getBlob(row.metadataSha256);
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
    const content = await extractWheelMetadata(this.#app.blobs.pathFor(wheel));
    const sha256 = await this.#app.blobs.putBuffer(content, `${row.filename}.metadata`);
    this.#app.state.recordBlob(sha256, content.length, "fetch", Date.now());
    return { sha256, size: content.length };
  }

  #touch(sha256: string): void {
    const now = Date.now();
    if (now - (this.#touched.get(sha256) ?? 0) < ACCESS_TOUCH_MS) return;
    this.#touched.set(sha256, now);
    this.#app.state.touchBlob(sha256, now);
  }

  /** LRU eviction of blobs fetched on demand beyond `max_cache_size`; published blobs are never evicted. */
  #evictIfNeeded(): void {
    const limit = this.#app.config.maxCacheSize;
    if (limit === undefined) return;
    let total = this.#cache.fetchedBytes();
    while (total > limit) {
      const victims = this.#cache.evictionCandidates(32);
      if (victims.length === 0) return;
      for (const victim of victims) {
        if (total <= limit) return;
        this.#app.state.deleteBlob(victim.sha256);
        void this.#app.blobs.remove(victim.sha256);
        this.#touched.delete(victim.sha256);
        total -= victim.size;
      }
    }
  }
}

function toLookup(row: ProxyPageRow, stale: string | undefined): PageLookup {
  if (row.status !== 200 || row.body === null)
    return { kind: "not-found", reason: "upstream has no such page" };
  return {
    kind: "page",
    version: `${row.fetchedAt}-${row.etag ?? ""}`,
    body: JSON.parse(row.body) as ProxyPageBody,
    stale,
  };
}
