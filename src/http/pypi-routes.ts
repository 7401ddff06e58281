// Serves a PyPI-style mirror under `/<mirror>/`: the upstream's own path layout, so
// `--index-url http://HOST/pytorch/whl/cu121` works as `https://download.pytorch.org/whl/cu121`
// does. Pages come from the current snapshot (rendered once per generation, with ETags); files
// and `.metadata` files from the blob store.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppContext, MirrorContext } from "../app-context.js";
import { BadRequestPathError, NotFoundError } from "../errors.js";
import type { FileRecord, ProjectRecord } from "../store/state-store.js";
import { decodeRequestPath, encodeMirrorPath } from "../sync/mirror-paths.js";
import { normalizeProjectName } from "../upstream/project-page.js";
import { negotiateSimpleFormat, type SimpleFormat } from "./accept-negotiation.js";
import { sendFile } from "./file-response.js";
import {
  renderProjectListHtml,
  renderProjectListJson,
  renderProjectPageHtml,
  renderProjectPageJson,
} from "./simple-pages.js";

export interface RouteResult {
  route: string;
  status: number;
  bytes: number;
}

interface CachedPage {
  body: Buffer;
  etag: string;
  contentType: string;
}

const PAGE_CACHE_ENTRIES = 4096;
const PAGE_CACHE_CONTROL = "public, max-age=60, must-revalidate";

/** Rendered pages keyed by snapshot generation: a new generation means new keys, never stale hits. */
class PageCache {
  readonly #entries = new Map<string, CachedPage>();

  get(key: string, render: () => { body: string; contentType: string }): CachedPage {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const { body, contentType } = render();
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

function sendPage(req: IncomingMessage, res: ServerResponse, page: CachedPage): number {
  res.setHeader("Vary", "Accept");
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

export class PypiRoutes {
  readonly #app: AppContext;
  readonly #pages = new PageCache();

  constructor(app: AppContext) {
    this.#app = app;
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
    const index = this.#matchIndex(mirror, segments);
    if (index) {
      const after = segments.slice(index.length);
      const idx = index.join("/");
      const base = `/${name}/${encodeMirrorPath(idx)}/`;
      if (after.length === 0) {
        redirect(res, `${base}${query}`);
        return { route: "simple_redirect", status: 301, bytes: 0 };
      }
      if (after.length === 1 && after[0] === "") return this.#projectList(req, res, mirror, idx);
      if (after.length === 2 && after[1] === "") {
        const project = after[0] as string;
        const normalized = normalizeProjectName(project);
        if (normalized !== project) {
          redirect(res, `${base}${encodeURIComponent(normalized)}/${query}`);
          return { route: "simple_redirect", status: 301, bytes: 0 };
        }
        return this.#projectPage(req, res, mirror, idx, index, normalized);
      }
      if (after.length === 1) {
        const file = this.#lookupFile(mirror, segments.join("/"));
        if (file) return this.#sendFile(req, res, file.record, file.metadata);
        const normalized = normalizeProjectName(after[0] as string);
        redirect(res, `${base}${encodeURIComponent(normalized)}/${query}`);
        return { route: "simple_redirect", status: 301, bytes: 0 };
      }
    }
    if (segments.at(-1) === "") throw new NotFoundError(`/${name}/${rest}`);
    const file = this.#lookupFile(mirror, segments.join("/"));
    if (!file) throw new NotFoundError(`/${name}/${rest} is not in this mirror`);
    return this.#sendFile(req, res, file.record, file.metadata);
  }

  #matchIndex(mirror: MirrorContext, segments: readonly string[]): string[] | undefined {
    let best: string[] | undefined;
    for (const idx of mirror.config.indexes) {
      const parts = idx.split("/");
      if (parts.length > segments.length) continue;
      if (parts.every((p, i) => segments[i] === p) && (!best || parts.length > best.length)) best = parts;
    }
    return best;
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

  #projectList(req: IncomingMessage, res: ServerResponse, mirror: MirrorContext, idx: string): RouteResult {
    const format = this.#negotiate(req, res);
    if (!format) return { route: "simple_index", status: 406, bytes: 0 };
    const snapshotId = this.#app.state.currentSnapshotId(mirror.config.name, idx);
    if (snapshotId === undefined)
      throw new NotFoundError(`index ${idx} of mirror ${mirror.config.name} has not been published yet`);
    const page = this.#pages.get(`${snapshotId}\0\0${format.format}`, () => {
      const projects = this.#app.state.projects(snapshotId);
      return {
        body: format.format === "json" ? renderProjectListJson(projects) : renderProjectListHtml(projects),
        contentType: format.contentType,
      };
    });
    return { route: "simple_index", status: res.statusCode, bytes: sendPage(req, res, page) };
  }

  #projectPage(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: MirrorContext,
    idx: string,
    indexSegments: readonly string[],
    project: string,
  ): RouteResult {
    const format = this.#negotiate(req, res);
    if (!format) return { route: "simple_project", status: 406, bytes: 0 };
    const snapshotId = this.#app.state.currentSnapshotId(mirror.config.name, idx);
    const record: ProjectRecord | undefined =
      snapshotId === undefined ? undefined : this.#app.state.project(snapshotId, project);
    if (snapshotId === undefined || !record) {
      throw new NotFoundError(`project ${project} is not in index ${idx} of mirror ${mirror.config.name}`);
    }
    const page = this.#pages.get(`${snapshotId}\0${project}\0${format.format}`, () => {
      const files = this.#app.state.filesOfProject(snapshotId, project);
      const pageDir = [...indexSegments, project];
      return {
        body:
          format.format === "json"
            ? renderProjectPageJson(record, files, pageDir)
            : renderProjectPageHtml(record, files, pageDir),
        contentType: format.contentType,
      };
    });
    const bytes = sendPage(req, res, page);
    return { route: "simple_project", status: res.statusCode, bytes };
  }

  #lookupFile(mirror: MirrorContext, path: string): { record: FileRecord; metadata: boolean } | undefined {
    const record = this.#app.state.fileByPath(mirror.config.name, path);
    if (record) return { record, metadata: false };
    if (path.endsWith(".metadata")) {
      const owner = this.#app.state.fileByPath(mirror.config.name, path.slice(0, -".metadata".length));
      if (owner?.metadataSha256) return { record: owner, metadata: true };
    }
    return undefined;
  }

  async #sendFile(
    req: IncomingMessage,
    res: ServerResponse,
    record: FileRecord,
    metadata: boolean,
  ): Promise<RouteResult> {
    const sha256 = metadata ? (record.metadataSha256 as string) : record.sha256;
    const blob = this.#app.state.getBlob(sha256);
    const size = metadata ? (record.metadataSize ?? blob?.size ?? 0) : record.size;
    const path = this.#app.blobs.pathFor(sha256);
    const result = await sendFile(
      req,
      res,
      {
        size,
        sha256,
        lastModified: new Date(blob?.createdAt ?? 0),
        contentType: contentTypeFor(metadata ? `${record.filename}.metadata` : record.filename),
        extraHeaders: { "X-Cache": "HIT" },
      },
      (range) => createReadStream(path, { start: range.start, end: range.end, highWaterMark: 1 << 20 }),
    );
    return { route: metadata ? "file_metadata" : "file", ...result };
  }
}
