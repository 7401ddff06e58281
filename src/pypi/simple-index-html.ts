// PEP 503 HTML simple index pages -> ProjectPage / ProjectList.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/#base-html-api
// PEP 503 (links, #<hashname>=<hex> fragments): https://peps.python.org/pep-0503/
// PEP 592 (data-yanked): https://peps.python.org/pep-0592/
// PEP 629 (<meta name="pypi:repository-version">): https://peps.python.org/pep-0629/
// PEP 658 / PEP 714 (data-core-metadata, legacy data-dist-info-metadata): https://peps.python.org/pep-0714/
//
// This file is the PEP 503 layer: anchors -> files (hrefs against the document base, hash
// fragments, data-* attributes) and the checks that tell an index from an error page. The HTML
// itself is read by html-tokenizer.ts; character references are decoded by html-entities.ts.

import { MalformedPageError } from "../errors.js";
import { hasInnerDotSegments } from "./href-dot-segments.js";
import { decodeEntities } from "./html-entities.js";
import { isSpace, type RawAnchor, type ScanResult, scanHtml } from "./html-tokenizer.js";
import type { DistributionFile, ProjectList, ProjectPage } from "./project-page.js";

/** Hash names PEP 503 fragments use (hashlib's guaranteed set). */
const FRAGMENT_HASH_NAMES = new Set([
  "md5",
  "sha1",
  "sha224",
  "sha256",
  "sha384",
  "sha512",
  "sha3_224",
  "sha3_256",
  "sha3_384",
  "sha3_512",
  "blake2b",
  "blake2s",
]);
const HEX = /^[0-9a-f]+$/;

/** `sha256=ABC...&md5=...` -> `{ sha256: "abc..." }`; other parameters (e.g. `egg=`) are ignored. */
function parseHashParams(text: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("&", start);
    if (end === -1) end = text.length;
    const eq = text.indexOf("=", start);
    if (eq > start && eq < end) {
      const name = text.slice(start, eq).trim().toLowerCase();
      if (FRAGMENT_HASH_NAMES.has(name) && !(name in hashes)) {
        const value = text
          .slice(eq + 1, end)
          .trim()
          .toLowerCase();
        if (HEX.test(value)) hashes[name] = value;
      }
    }
    start = end + 1;
  }
  return hashes;
}

/** The hashes in a URL fragment (`#sha256=...`), and the URL without its fragment. */
export function splitHashFragment(url: URL): { url: string; hashes: Record<string, string> } {
  const href = url.href;
  // In a serialized URL the first "#" starts the fragment: one in the path or query would be escaped.
  const hash = href.indexOf("#");
  if (hash === -1) return { url: href, hashes: {} };
  return { url: href.slice(0, hash), hashes: parseHashParams(href.slice(hash + 1)) };
}

/**
 * PEP 658/714 attribute value: absent or "false" -> not offered; "true" (or no value) -> offered
 * without a hash; `<hashname>=<hex>` -> offered with that hash.
 */
function parseCoreMetadata(raw: string | undefined): false | Record<string, string> {
  if (raw === undefined) return false;
  const value = decodeEntities(raw).trim();
  const lower = value.toLowerCase();
  if (lower === "false") return false;
  if (lower === "" || lower === "true") return {};
  return parseHashParams(value);
}

/** A filename that is safe to use as one path segment in the store. */
export function isSafeFilename(name: string): boolean {
  return (
    name !== "" &&
    name !== "." &&
    name !== ".." &&
    !name.includes("/") &&
    !name.includes("\\") &&
    !name.includes("\0")
  );
}

function lastPathSegment(url: URL): string {
  const path = url.pathname;
  let raw = path.slice(path.lastIndexOf("/") + 1);
  if (!raw.includes("%")) return raw;
  // Local versions ("+cu128") are the usual escape; decodeURIComponent is slow enough to show on 8000 links.
  raw = raw.replaceAll("%2B", "+").replaceAll("%2b", "+");
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; // a stray "%" that is not an escape
  }
}

/** Resolves an href against the document base; null when it is not an http(s) URL. */
function resolveHref(rawHref: string, base: URL): URL | null {
  const href = decodeEntities(rawHref).trim();
  if (href === "") return null;
  let url: URL;
  try {
    // Most hrefs on big pages are absolute; parsing them without the base is measurably faster.
    url = href.startsWith("https://") || href.startsWith("http://") ? new URL(href) : new URL(href, base);
  } catch {
    return null;
  }
  return url.protocol === "https:" || url.protocol === "http:" ? url : null;
}

function documentBase(scan: ScanResult, pageUrl: string): URL {
  const page = new URL(pageUrl);
  if (scan.baseHref === undefined) return page;
  const base = resolveHref(scan.baseHref, page);
  return base ?? page;
}

function toDistributionFile(anchor: RawAnchor, base: URL): DistributionFile | null {
  const rawHref = anchor.attrs.get("href");
  if (rawHref === undefined) return null;
  const resolved = resolveHref(rawHref, base);
  if (!resolved) return null;

  // The URL is what gets downloaded, so it names the file; the text is only a fallback.
  let filename = lastPathSegment(resolved);
  if (filename === "") filename = decodeEntities(anchor.text).trim();
  if (!isSafeFilename(filename)) return null;

  const { url, hashes } = splitHashFragment(resolved);
  const file: DistributionFile = {
    filename,
    url,
    hashes,
    yanked: false,
    coreMetadata: false,
  };
  const href = decodeEntities(rawHref).trim();
  if (hasInnerDotSegments(href)) file.dotSegmentHref = href.replace(/#.*/s, "");

  const requiresPython = anchor.attrs.get("data-requires-python");
  if (requiresPython !== undefined) {
    const value = decodeEntities(requiresPython).trim();
    if (value !== "") file.requiresPython = value;
  }
  const yanked = anchor.attrs.get("data-yanked");
  if (yanked !== undefined) file.yanked = decodeEntities(yanked).trim();
  // PEP 714: data-core-metadata wins; data-dist-info-metadata is the name older pages use.
  const coreMetadata = anchor.attrs.get("data-core-metadata") ?? anchor.attrs.get("data-dist-info-metadata");
  file.coreMetadata = parseCoreMetadata(coreMetadata);
  return file;
}

const ERROR_WORDS =
  /\b(error|exception|denied|forbidden|not found|unauthori[sz]ed|too many requests|bad gateway|service unavailable|gateway time-?out|just a moment|attention required)\b/i;
const CHALLENGE_TITLE = /^\s*(just a moment|attention required|access denied)\b/i;
const LINKS_FOR = /^\s*links for\b/i;

function firstNonSpace(body: string): string {
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (!isSpace(c) && c !== 0xfeff) return body.charAt(i);
  }
  return "";
}

/** Throws when the body is clearly not a simple index page (a JSON error, an S3 XML error, a challenge page). */
function checkLooksLikeIndex(body: string, scan: ScanResult, pageUrl: string): void {
  const first = firstNonSpace(body);
  if (first === "") throw new MalformedPageError(pageUrl, "empty body");
  if (first === "{" || first === "[") throw new MalformedPageError(pageUrl, "body is JSON, not an HTML page");
  if (!body.includes("<")) throw new MalformedPageError(pageUrl, "body has no HTML markup");

  const title = scan.title === undefined ? "" : decodeEntities(scan.title).trim();
  if (CHALLENGE_TITLE.test(title)) {
    throw new MalformedPageError(
      pageUrl,
      `a challenge or error page ("${title.slice(0, 80)}"), not an index`,
    );
  }
  if (scan.anchors.length > 0) return;
  // An empty index would unpublish everything it used to list: only a page that is whole says so.
  if (scan.unfinished !== undefined) {
    throw new MalformedPageError(
      pageUrl,
      `no links, and the page ends inside an unfinished tag or comment (${JSON.stringify(scan.unfinished)})`,
    );
  }
  // No links: a valid empty project or index, unless the page reads like an error.
  if (!scan.sawHtmlElement) {
    throw new MalformedPageError(
      pageUrl,
      "no links and no HTML elements (an XML or other non-HTML document)",
    );
  }
  const heading = scan.heading === undefined ? "" : decodeEntities(scan.heading).trim();
  if (LINKS_FOR.test(title) || LINKS_FOR.test(heading)) return;
  const sample = decodeEntities(scan.sample).replace(/\s+/g, " ").trim();
  if (ERROR_WORDS.test(sample)) {
    throw new MalformedPageError(
      pageUrl,
      `no links, and the page reads like an error page ("${sample.slice(0, 80)}")`,
    );
  }
}

/** Parses a PEP 503 project page (`/simple/<project>/`). Anchors that cannot be read are skipped. */
export function parseProjectPageHtml(body: string, pageUrl: string, requestedName: string): ProjectPage {
  const scan = scanHtml(body);
  checkLooksLikeIndex(body, scan, pageUrl);
  const base = documentBase(scan, pageUrl);
  const files: DistributionFile[] = [];
  let unreadable: string | undefined;
  for (const anchor of scan.anchors) {
    const file = toDistributionFile(anchor, base);
    if (file) files.push(file);
    else unreadable ??= unreadableHref(anchor, base);
  }
  // Links that are all garbage are a broken page, not an empty project: publishing it as empty
  // would drop every mirrored file of the project.
  if (files.length === 0 && unreadable !== undefined) {
    throw new MalformedPageError(
      pageUrl,
      `none of its links is a file link that can be read (first: href ${JSON.stringify(unreadable.slice(0, 100))})`,
    );
  }
  return { name: requestedName, files, meta: scan.meta };
}

/**
 * The href of an anchor that names no readable file (not a URL, a non-http scheme, a name with
 * NUL or slashes), or undefined when there is none or it is only a link to a directory (`../`).
 */
function unreadableHref(anchor: RawAnchor, base: URL): string | undefined {
  const rawHref = anchor.attrs.get("href");
  if (rawHref === undefined) return undefined;
  const href = decodeEntities(rawHref).trim();
  if (href === "") return undefined;
  const resolved = resolveHref(rawHref, base);
  if (resolved?.pathname.endsWith("/")) return undefined;
  return href;
}

/**
 * Parses a PEP 503 project list (`/simple/`). The anchor text is the project name; when it is empty
 * the last path segment of the href is used instead.
 */
export function parseProjectListHtml(body: string, pageUrl: string): ProjectList {
  const scan = scanHtml(body);
  checkLooksLikeIndex(body, scan, pageUrl);
  const base = documentBase(scan, pageUrl);
  const projects: string[] = [];
  for (const anchor of scan.anchors) {
    const rawHref = anchor.attrs.get("href");
    if (rawHref === undefined) continue;
    const url = resolveHref(rawHref, base);
    if (!url) continue;
    let name = decodeEntities(anchor.text).trim();
    if (name === "") {
      const segments = url.pathname.split("/").filter((s) => s !== "");
      const last = segments[segments.length - 1];
      if (last === undefined) continue;
      try {
        name = decodeURIComponent(last);
      } catch {
        name = last;
      }
    }
    projects.push(name);
  }
  return { projects, meta: scan.meta };
}
