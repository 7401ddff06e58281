// The costly part of a proxied page, as pure functions run in the page worker (page-worker.ts):
// parse the upstream page, keep the links a sync would keep, and render the page once in both
// formats (PEP 503 HTML and PEP 691 JSON) with their ETags. A 255k-link page costs seconds of
// CPU; done here, the server's event loop never waits for it.
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { PageTooManyLinksError } from "../errors.js";
import { isSha256Hex } from "../store/blob-store.js";
import type { ProxyFileRow } from "../store/state-repositories.js";
import { formatOtherHash, type OtherHash, strongestOtherHash } from "../sync/other-hash.js";
import { mirrorPathFor } from "./mirror-paths.js";
import { normalizeProjectName } from "./project-page.js";
import type { ProxyPageBody } from "./proxy-cache-store.js";
import { parseSimpleIndex, parseSimpleProjectList } from "./simple-index-content-type.js";
import {
  renderProjectListHtml,
  renderProjectListJson,
  renderProjectPageHtml,
  renderProjectPageJson,
  type ServedFile,
} from "./simple-pages.js";

export interface RenderedBody {
  body: Uint8Array;
  /** A strong ETag over the bytes (RFC 9110 §8.8.3). */
  etag: string;
}

/** A page rendered once per upstream version, served as is on every hit. */
export interface RenderedPage {
  html: RenderedBody;
  json: RenderedBody;
}

export interface ParseJob {
  mirror: string;
  /** "" for the project list. */
  project: string;
  /** The page as read from upstream, in chunks (decoded here, not on the event loop). */
  bytes: readonly Uint8Array[];
  contentType: string | undefined;
  url: string;
  upstream: string;
  allowedHosts: readonly string[];
  /** Decoded segments of the page's directory under the mirror, for relative hrefs. */
  pageDir: readonly string[];
  maxLinks: number;
  /**
   * The state database: the worker stores the page's files and then the page itself there
   * (see page-worker.ts), with these validators.
   */
  dbPath?: string;
  idx: string;
  fetchedAt: number;
  etag: string | null;
  lastModified: string | null;
}

export interface ParsedPage {
  /** What is kept in the proxy cache to render the page again (gzip of a ProxyPageBody as JSON). */
  stored: Uint8Array;
  rows: ProxyFileRow[];
  rendered: RenderedPage;
}

function isAllowedHost(url: string, allowedHosts: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return false;
  return allowedHosts.includes(parsed.host) || allowedHosts.includes(parsed.hostname);
}

function rendered(body: string): RenderedBody {
  const bytes = Buffer.from(body, "utf8");
  const digest = createHash("sha256").update(bytes).digest("base64url").slice(0, 22);
  return { body: bytes, etag: `"${digest}"` };
}

/** Renders a stored page body in both formats. */
export function renderPage(project: string, body: ProxyPageBody, pageDir: readonly string[]): RenderedPage {
  if (project === "") {
    const projects = (body.projects ?? []).map((displayName) => ({
      name: normalizeProjectName(displayName),
      displayName,
      upstreamSerial: null,
      upstreamTimestamp: null,
      upstreamEtag: null,
    }));
    return {
      html: rendered(renderProjectListHtml(projects)),
      json: rendered(renderProjectListJson(projects)),
    };
  }
  const files = body.files ?? [];
  const shown = { name: project, displayName: body.displayName || project };
  return {
    html: rendered(renderProjectPageHtml(shown, files, pageDir)),
    json: rendered(renderProjectPageJson(shown, files, pageDir)),
  };
}

/** Parses an upstream page, bounded by `maxLinks`, and renders it. */
export function parsePage(job: ParseJob): ParsedPage {
  const text = Buffer.concat(job.bytes).toString("utf8");
  if (job.project === "") {
    const list = parseSimpleProjectList(text, job.contentType, job.url);
    if (list.projects.length > job.maxLinks) throw new PageTooManyLinksError(job.url, job.maxLinks);
    const body: ProxyPageBody = { displayName: "", projects: list.projects };
    return { stored: storeBody(body), rows: [], rendered: renderPage("", body, job.pageDir) };
  }
  const page = parseSimpleIndex(text, job.contentType, job.url, job.project);
  if (page.files.length > job.maxLinks) throw new PageTooManyLinksError(job.url, job.maxLinks);
  const served: ServedFile[] = [];
  const rows: ProxyFileRow[] = [];
  for (const file of page.files) {
    // The same rules as a sync: no hosts outside the allowlist, no dot segments, no unsafe paths.
    if (file.dotSegmentHref !== undefined || !isAllowedHost(file.url, job.allowedHosts)) continue;
    const path = mirrorPathFor(job.upstream, file.url);
    if (path === null) continue;
    const given = file.hashes.sha256?.toLowerCase();
    const sha256 = given !== undefined && isSha256Hex(given) ? given : null;
    const metadataSha = file.coreMetadata === false ? undefined : file.coreMetadata.sha256?.toLowerCase();
    const metadataSha256 = metadataSha !== undefined && isSha256Hex(metadataSha) ? metadataSha : null;
    const otherHash = sha256 === null ? formatOptional(strongestOtherHash(file.hashes)) : null;
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
      otherHash,
    });
    rows.push({
      mirror: job.mirror,
      path,
      project: job.project,
      filename: file.filename,
      upstreamUrl: file.url,
      sha256,
      hashSource: "index",
      size: file.size ?? null,
      metadataSha256,
      metadataOffered: file.coreMetadata !== false,
      otherHash,
    });
  }
  const body: ProxyPageBody = { displayName: page.name || job.project, files: served };
  return { stored: storeBody(body), rows, rendered: renderPage(job.project, body, job.pageDir) };
}

function formatOptional(hash: OtherHash | undefined): string | null {
  return hash === undefined ? null : formatOtherHash(hash);
}

function storeBody(body: ProxyPageBody): Uint8Array {
  return gzipSync(JSON.stringify(body), { level: 1 });
}

/** A stored body: gzip (this version) or plain JSON text (rows written before). */
export function loadBody(stored: Uint8Array | string): ProxyPageBody {
  const text = typeof stored === "string" ? stored : gunzipSync(stored).toString("utf8");
  return JSON.parse(text) as ProxyPageBody;
}
