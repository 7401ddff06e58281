// Serves a PyPI-style mirror under `/<mirror>/`: the upstream's own path layout, so
// `--index-url http://HOST/pytorch/whl/cu121` works as `https://download.pytorch.org/whl/cu121`
// does. Pages come from the current snapshot (rendered once per generation, with ETags); files
// and `.metadata` files from the blob store. What the snapshot lacks is fetched on demand
// (proxy mode, or `on_miss: fetch`) through the pull-through cache.

import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  BadRequestPathError,
  BlobMissingError,
  describeError,
  FreshmirrorError,
  NotFoundError,
  NotProjectNameError,
} from "../errors.js";
import { sendFile } from "../http/file-response.js";
import type { FileResponseLimiter } from "../http/file-response-limiter.js";
import type { RouteResult } from "../http/route-handler.js";
import type { Logger } from "../logging/logger.js";
import type { BlobStore } from "../store/blob-store.js";
import type { ProjectRecord, ProxyFileRow, StateRepositories } from "../store/state-repositories.js";
import { negotiateSimpleFormat, type SimpleFormat } from "./accept-negotiation.js";
import { isConfiguredIndex, matchesIndex } from "./index-pattern.js";
import { decodeRequestPath, encodeMirrorPath } from "./mirror-paths.js";
import type { RenderedPage } from "./page-work.js";
import { isValidProjectName, normalizeProjectName } from "./project-page.js";
import type { PageLookup, PullThrough, PypiMirrorHandle } from "./pull-through.js";

type MirrorContext = PypiMirrorHandle;

import {
  renderProjectListHtml,
  renderProjectListJson,
  renderProjectPageHtml,
  renderProjectPageJson,
} from "./simple-pages.js";

interface CachedPage {
  body: Buffer;
  etag: string;
  contentType: string;
}

const PAGE_CACHE_ENTRIES = 4096;
const PAGE_CACHE_CONTROL = "public, max-age=60, must-revalidate";

/**
 * Rendered pages keyed by snapshot generation: a new generation means new keys, never stale hits.
 * A hit costs no store round trip; two requests that miss together both render and store the same
 * bytes (same key, same content), which is harmless.
 */
class PageCache {
  readonly #entries = new Map<string, CachedPage>();

  hit(key: string): CachedPage | undefined {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  store(key: string, { body, contentType }: { body: string; contentType: string }): CachedPage {
    const bytes = Buffer.from(body, "utf8");
    const digest = createHash("sha256").update(bytes).digest("base64url").slice(0, 22);
    const page = { body: bytes, etag: `"${digest}"`, contentType };
    this.#entries.set(key, page);
    if (this.#entries.size > PAGE_CACHE_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return page;
  }
}

function sendPage(req: IncomingMessage, res: ServerResponse, page: CachedPage, stale?: string): number {
  res.setHeader("Vary", "Accept");
  if (stale !== undefined) {
    // RFC 9111 §5.5 (obsoleted but still understood) and a plain header saying why.
    res.setHeader("Warning", '110 - "Response is Stale"');
    res.setHeader("X-Freshmirror-Stale", stale.replace(/[^\x20-\x7e]/g, " ").slice(0, 200));
  }
  res.setHeader("ETag", page.etag);
  res.setHeader("Cache-Control", PAGE_CACHE_CONTROL);
  const ifNoneMatch = req.headers["if-none-match"];
  if (ifNoneMatch?.split(",").some((t) => t.trim().replace(/^W\//, "") === page.etag || t.trim() === "*")) {
    res.statusCode = 304;
    res.end();
    return 0;
  }
  res.statusCode = 200;
  res.setHeader("Content-Type", page.contentType);
  res.setHeader("Content-Length", page.body.length);
  res.end(req.method === "HEAD" ? undefined : page.body);
  return page.body.length;
}

/** A proxied page rendered once (in the page worker), in the negotiated format. */
function proxiedPage(rendered: RenderedPage, format: SimpleFormat): CachedPage {
  const { body, etag } = format.format === "json" ? rendered.json : rendered.html;
  return {
    body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    etag,
    contentType: format.contentType,
  };
}

function redirect(res: ServerResponse, location: string): void {
  res.statusCode = 301;
  res.setHeader("Location", location);
  res.setHeader("Content-Length", 0);
  res.end();
}

export function contentTypeFor(filename: string): string {
  if (filename.endsWith(".metadata")) return "text/plain; charset=utf-8";
  if (filename.endsWith(".tar.gz") || filename.endsWith(".tgz")) return "application/x-tar";
  if (filename.endsWith(".zip")) return "application/zip";
  return "application/octet-stream";
}

/** What serving PyPI mirrors uses of the app. */
export interface PypiRoutesDeps {
  readonly state: StateRepositories;
  readonly blobs: BlobStore;
  readonly pullThrough: PullThrough;
  readonly config: { readonly sendTimeoutMs: number };
  /** Bounds the file bodies sent at once (max_file_responses), shared with every other kind. */
  readonly fileResponses: FileResponseLimiter;
  readonly logger: Logger;
}

export class PypiRoutes {
  readonly #app: PypiRoutesDeps;
  readonly #pullThrough: PullThrough;
  readonly #pages = new PageCache();

  constructor(app: PypiRoutesDeps) {
    this.#app = app;
    this.#pullThrough = app.pullThrough;
  }

  /** Handles a request whose path is `/<mirror>/<rest>`; `rest` is still percent-encoded. */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: MirrorContext,
    rest: string,
    query: string,
  ): Promise<RouteResult> {
    const segments = decodeRequestPath(rest);
    if (segments === null) throw new BadRequestPathError(`unsafe path segments in ${JSON.stringify(rest)}`);
    const name = mirror.config.name;
    const indexes = mirror.config.indexes;
    const shown = `/${name}/${rest}`;
    const trailingSlash = segments.at(-1) === "";
    const dirs = trailingSlash ? segments.slice(0, -1) : segments;
    const last = dirs.at(-1);
    const parent = dirs.slice(0, -1);
    const base = (index: readonly string[]) => `/${name}/${encodeMirrorPath(index.join("/"))}/`;
    // A path ending in a slash is a project list or a project page (PEP 503 gives both the same
    // shape). A concrete configured index wins; else the last segment is a project in the index
    // before it (what pip and uv ask for); else, when a pattern vouches for the whole path, a list.
    if (trailingSlash) {
      if (isConfiguredIndex(indexes, dirs)) return this.#projectList(req, res, mirror, dirs.join("/"));
      if (last !== undefined && matchesIndex(indexes, parent)) {
        if (!isValidProjectName(last)) throw new NotProjectNameError(shown, last);
        const normalized = normalizeProjectName(last);
        if (normalized !== last) {
          redirect(res, `${base(parent)}${encodeURIComponent(normalized)}/${query}`);
          return { route: "simple_redirect", status: 301, bytes: 0 };
        }
        return this.#projectPage(req, res, mirror, parent.join("/"), parent, normalized);
      }
      if (matchesIndex(indexes, dirs)) return this.#projectList(req, res, mirror, dirs.join("/"));
      throw new NotFoundError(`${shown}: no index of mirror ${name} is served at this path`);
    }
    if (last !== undefined && !looksLikeFile(last)) {
      if (isConfiguredIndex(indexes, dirs)) {
        redirect(res, `${base(dirs)}${query}`);
        return { route: "simple_redirect", status: 301, bytes: 0 };
      }
      if (matchesIndex(indexes, parent) && isValidProjectName(last)) {
        redirect(res, `${base(parent)}${encodeURIComponent(normalizeProjectName(last))}/${query}`);
        return { route: "simple_redirect", status: 301, bytes: 0 };
      }
      if (matchesIndex(indexes, dirs)) {
        redirect(res, `${base(dirs)}${query}`);
        return { route: "simple_redirect", status: 301, bytes: 0 };
      }
    }
    return this.#file(req, res, mirror, segments.join("/"), shown);
  }

  #fetchesOnMiss(mirror: MirrorContext): boolean {
    return mirror.config.mode === "proxy" || mirror.config.onMiss === "fetch";
  }

  #negotiate(req: IncomingMessage, res: ServerResponse): SimpleFormat | undefined {
    const format = negotiateSimpleFormat(req.headers.accept);
    if (!format) {
      res.statusCode = 406;
      res.setHeader("Vary", "Accept");
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.end(
        "none of the accepted types is offered: use application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html or text/html\n",
      );
    }
    return format ?? undefined;
  }

  async #projectList(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: MirrorContext,
    idx: string,
  ): Promise<RouteResult> {
    const format = this.#negotiate(req, res);
    if (!format) return { route: "simple_index", status: 406, bytes: 0 };
    const name = mirror.config.name;
    const snapshotId =
      mirror.config.mode === "mirror"
        ? await this.#app.state.snapshots.currentSnapshotId(name, idx)
        : undefined;
    if (snapshotId !== undefined) {
      const key = `${snapshotId}\0\0${format.format}`;
      const page =
        this.#pages.hit(key) ??
        this.#pages.store(key, {
          body: await this.#app.state.snapshots
            .projects(snapshotId)
            .then((projects) =>
              format.format === "json" ? renderProjectListJson(projects) : renderProjectListHtml(projects),
            ),
          contentType: format.contentType,
        });
      return { route: "simple_index", status: res.statusCode, bytes: sendPage(req, res, page) };
    }
    if (mirror.config.mode !== "proxy") {
      throw new NotFoundError(`index ${idx} of mirror ${name} has not been published yet`);
    }
    const lookup = await this.#pullThrough.projectList(mirror, idx);
    if (lookup.kind !== "page") throw new NotFoundError(`index ${idx} of mirror ${name}: ${lookup.reason}`);
    const rendered = await this.#pullThrough.renderedPage(mirror, idx, "", lookup);
    if (!rendered) throw new NotFoundError(`index ${idx} of mirror ${name}: no longer cached, ask again`);
    const page = proxiedPage(rendered, format);
    return { route: "simple_index", status: res.statusCode, bytes: sendPage(req, res, page, lookup.stale) };
  }

  async #projectPage(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: MirrorContext,
    idx: string,
    indexSegments: readonly string[],
    project: string,
  ): Promise<RouteResult> {
    const format = this.#negotiate(req, res);
    if (!format) return { route: "simple_project", status: 406, bytes: 0 };
    const name = mirror.config.name;
    const pageDir = [...indexSegments, project];
    const snapshotId = await this.#app.state.snapshots.currentSnapshotId(name, idx);
    const record: ProjectRecord | undefined =
      snapshotId === undefined ? undefined : await this.#app.state.snapshots.project(snapshotId, project);
    if (snapshotId !== undefined && record) {
      const key = `${snapshotId}\0${project}\0${format.format}`;
      const page =
        this.#pages.hit(key) ??
        this.#pages.store(key, {
          body: await this.#app.state.snapshots
            .filesOfProject(snapshotId, project)
            .then((files) =>
              format.format === "json"
                ? renderProjectPageJson(record, files, pageDir)
                : renderProjectPageHtml(record, files, pageDir),
            ),
          contentType: format.contentType,
        });
      return { route: "simple_project", status: res.statusCode, bytes: sendPage(req, res, page) };
    }
    if (!this.#fetchesOnMiss(mirror)) {
      throw new NotFoundError(`project ${project} is not in index ${idx} of mirror ${name}`);
    }
    const lookup: PageLookup = await this.#pullThrough.projectPage(mirror, idx, project);
    if (lookup.kind !== "page") {
      throw new NotFoundError(`project ${project} in index ${idx} of mirror ${name}: ${lookup.reason}`);
    }
    const rendered = await this.#pullThrough.renderedPage(mirror, idx, project, lookup);
    if (!rendered) {
      throw new NotFoundError(
        `project ${project} in index ${idx} of mirror ${name}: no longer cached, ask again`,
      );
    }
    const page = proxiedPage(rendered, format);
    return { route: "simple_project", status: res.statusCode, bytes: sendPage(req, res, page, lookup.stale) };
  }

  /** A file or `.metadata` file: from the snapshot, else (when allowed) from the pull-through cache. */
  async #file(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: MirrorContext,
    path: string,
    shown: string,
  ): Promise<RouteResult> {
    const name = mirror.config.name;
    const record = await this.#app.state.snapshots.fileByPath(name, path);
    if (record) return this.#sendStored(req, res, record.sha256, record.size, record.filename, "file");
    const isMetadata = path.endsWith(".metadata");
    const owner = isMetadata
      ? await this.#app.state.snapshots.fileByPath(name, path.slice(0, -".metadata".length))
      : undefined;
    if (owner?.metadataSha256) {
      return this.#sendStored(
        req,
        res,
        owner.metadataSha256,
        owner.metadataSize ?? 0,
        `${owner.filename}.metadata`,
        "file_metadata",
      );
    }
    if (!this.#fetchesOnMiss(mirror)) throw new NotFoundError(`${shown} is not in this mirror`);
    const proxied = await this.#pullThrough.resolveFile(
      mirror,
      isMetadata ? path.slice(0, -".metadata".length) : path,
    );
    if (!proxied) throw new NotFoundError(`${shown}: no such file upstream`);
    if (isMetadata) {
      const metadata = await this.#pullThrough.metadata(mirror, proxied);
      if (!metadata) throw new NotFoundError(`${shown}: upstream offers no core metadata for this file`);
      return this.#sendStored(
        req,
        res,
        metadata.sha256,
        metadata.size,
        `${proxied.filename}.metadata`,
        "file_metadata",
      );
    }
    return this.#sendProxied(req, res, mirror, proxied);
  }

  async #sendStored(
    req: IncomingMessage,
    res: ServerResponse,
    sha256: string,
    size: number,
    filename: string,
    route: string,
  ): Promise<RouteResult> {
    if (req.method === "GET") this.#app.fileResponses.acquire(res);
    const blob = await this.#app.state.blobs.get(sha256);
    const blobs = this.#app.blobs;
    const result = await sendFile(
      req,
      res,
      {
        size,
        sha256,
        lastModified: new Date(blob?.createdAt ?? 0),
        contentType: contentTypeFor(filename),
        extraHeaders: { "X-Cache": "HIT" },
      },
      {
        open: async () => {
          const handle = await blobs.open(sha256);
          if (handle === undefined) throw new BlobMissingError(sha256);
          return handle;
        },
      },
      {
        sendTimeoutMs: this.#app.config.sendTimeoutMs,
        sendBuffers: this.#app.fileResponses.sendBuffers,
      },
    );
    return { route, cache: "HIT", ...result };
  }

  /**
   * A file fetched on demand: from the store when it is there, else streamed from the one
   * download in flight, each client at its own pace, Range included. Headers go out as soon as
   * upstream has answered with the bytes: with Content-Length when the index or upstream gave a
   * size, else chunked. While a client is here it keeps the download alive; when the last one
   * leaves, the download goes on for `abandon_grace` only (see InFlightDownload.attachClient).
   */
  async #sendProxied(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: MirrorContext,
    row: ProxyFileRow,
  ): Promise<RouteResult> {
    const stored = await this.#pullThrough.cachedBlob(row);
    if (stored !== undefined) {
      const size = row.size ?? (await this.#app.blobs.stat(stored)) ?? 0;
      return this.#sendStored(req, res, stored, size, row.filename, "file");
    }
    if (req.method === "GET") this.#app.fileResponses.acquire(res);
    const { download, cache } = this.#pullThrough.download(mirror, row);
    if (cache === "MISS") {
      // Once per download: clients that already have headers only see a broken transfer, so the
      // reason (size limit, digest, upstream) goes to the server log.
      download.done.catch((error: unknown) => {
        const code = error instanceof FreshmirrorError ? `${error.code} ` : "";
        this.#app.logger.warn(
          { mirror: mirror.config.name, err: error },
          `${mirror.config.name}: ${code}${describeError(error)}`,
        );
      });
    }
    const release = download.attachClient();
    res.once("close", release);
    // Headers wait only until upstream has answered with the bytes (so a failure before that is
    // still a clean 502), not for the size: a file of unknown size is sent chunked.
    while (!download.responded && download.state === "running") await download.nextChange();
    if (download.state === "failed") throw download.error;
    const result = await sendFile(
      req,
      res,
      {
        size: row.size ?? download.expectedSize ?? download.result?.size,
        sha256: row.hashSource === "index" ? row.sha256 : null,
        lastModified: new Date(),
        contentType: contentTypeFor(row.filename),
        extraHeaders: { "X-Cache": cache },
      },
      (range) => download.createReader(range.start, Number.isFinite(range.end) ? range.end : undefined),
      {
        sendTimeoutMs: this.#app.config.sendTimeoutMs,
        sendBuffers: this.#app.fileResponses.sendBuffers,
      },
    );
    return { route: "file", cache, ...result };
  }
}

/** A last path segment that names a distribution file rather than a project. */
function looksLikeFile(segment: string): boolean {
  return /\.(whl|zip|tar\.gz|tgz|tar\.bz2|tar\.xz|egg|exe|metadata)$/i.test(segment);
}
