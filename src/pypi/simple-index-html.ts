// PEP 503 HTML simple index pages -> ProjectPage / ProjectList.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/#base-html-api
// PEP 503 (links, #<hashname>=<hex> fragments): https://peps.python.org/pep-0503/
// PEP 592 (data-yanked): https://peps.python.org/pep-0592/
// PEP 629 (<meta name="pypi:repository-version">): https://peps.python.org/pep-0629/
// PEP 658 / PEP 714 (data-core-metadata, legacy data-dist-info-metadata): https://peps.python.org/pep-0714/
//
// The scanner is a single forward pass that follows the WHATWG tokenizer where it matters for these
// pages (comments, raw-text <script>/<style>, quoted/unquoted attributes, first-attribute-wins,
// character references): https://html.spec.whatwg.org/multipage/parsing.html#tokenization
// It only ever searches forward with indexOf or a bounded loop, so a 3 MB page is one linear scan.

import { MalformedPageError } from "../errors.js";
import { hasInnerDotSegments } from "./href-dot-segments.js";
import type { DistributionFile, PageMeta, ProjectList, ProjectPage } from "./project-page.js";

/** An `<a>` element as written: attribute values are raw (entities not yet decoded). */
interface RawAnchor {
  attrs: ReadonlyMap<string, string>;
  text: string;
}

interface ScanResult {
  anchors: RawAnchor[];
  /** Raw href of the first `<base href>`. */
  baseHref: string | undefined;
  meta: PageMeta;
  /** Saw a doctype or an element that HTML pages have (html, body, a, ...), as opposed to e.g. XML. */
  sawHtmlElement: boolean;
  /** First `<title>` and `<h1>` texts, raw. */
  title: string | undefined;
  heading: string | undefined;
  /** The first few KB of text outside tags, scripts and comments, raw; used to recognise error pages. */
  sample: string;
  /** The start of a tag or comment the document ends inside (a cut or garbled page), if any. */
  unfinished: string | undefined;
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

const SAMPLE_LIMIT = 8192;
/** Anchor texts are filenames or project names; a longer text only happens in broken markup. */
const ANCHOR_TEXT_LIMIT = 4096;
const HEADING_LIMIT = 512;

/** Elements whose content is text up to their end tag, never markup (anchors inside are not links). */
const RAW_TEXT_ELEMENTS = new Set([
  "script",
  "style",
  "xmp",
  "iframe",
  "noembed",
  "noframes",
  "textarea",
  "title",
]);
const HTML_ELEMENTS = new Set([
  "html",
  "head",
  "body",
  "title",
  "meta",
  "base",
  "h1",
  "h2",
  "br",
  "a",
  "p",
  "div",
  "pre",
]);

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0x0c;
}

function isAsciiAlpha(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}

/** Index just past a tag name starting at `from`. */
function tagNameEnd(body: string, from: number): number {
  let p = from;
  while (p < body.length) {
    const c = body.charCodeAt(p);
    if (isSpace(c) || c === SLASH || c === GT) break;
    p++;
  }
  return p;
}

/** The lower-cased tag name in body[from, end), without allocating for the tags every index page repeats. */
function tagName(body: string, from: number, end: number): string {
  const first = body.charCodeAt(from) | 0x20;
  if (end - from === 1 && first === 0x61) return "a";
  if (end - from === 2 && first === 0x62 && (body.charCodeAt(from + 1) | 0x20) === 0x72) return "br";
  return body.slice(from, end).toLowerCase();
}

const NO_ATTRIBUTES: ReadonlyMap<string, string> = new Map();

interface StartTag {
  name: string;
  attrs: ReadonlyMap<string, string>;
  /** Index just past the closing `>`. */
  end: number;
}

/**
 * Reads a start tag whose name begins at `from` (just after `<`). Returns null when the document
 * ends inside the tag (a truncated page): the half-read tag is dropped, as a browser does.
 */
function readStartTag(body: string, from: number): StartTag | null {
  const len = body.length;
  const nameEnd = tagNameEnd(body, from);
  const name = tagName(body, from, nameEnd);
  let attrs: Map<string, string> | undefined; // created on the first attribute: most tags are a bare <br/>
  let p = nameEnd;
  for (;;) {
    while (p < len && (isSpace(body.charCodeAt(p)) || body.charCodeAt(p) === SLASH)) p++;
    if (p >= len) return null;
    if (body.charCodeAt(p) === GT) return { name, attrs: attrs ?? NO_ATTRIBUTES, end: p + 1 };

    const attrStart = p;
    p++; // the first character is part of the name even when it is "=" (WHATWG)
    while (p < len) {
      const c = body.charCodeAt(p);
      if (isSpace(c) || c === SLASH || c === GT || c === EQUALS) break;
      p++;
    }
    const attrName = body.slice(attrStart, p).toLowerCase();
    while (p < len && isSpace(body.charCodeAt(p))) p++;

    let value = "";
    if (p < len && body.charCodeAt(p) === EQUALS) {
      p++;
      while (p < len && isSpace(body.charCodeAt(p))) p++;
      if (p >= len) return null;
      const quote = body.charCodeAt(p);
      if (quote === DQUOTE || quote === SQUOTE) {
        const close = body.indexOf(quote === DQUOTE ? '"' : "'", p + 1);
        if (close === -1) return null;
        value = body.slice(p + 1, close);
        p = close + 1;
      } else if (quote !== GT) {
        // Unquoted. Unlike WHATWG we also stop at "<": download.pytorch.org once served
        // `<a href=/torch-1.1.0-cp27-cp27mu-linux_x86_64.whl</a><br>` (spinalcordtoolbox#3107),
        // and stopping there recovers the intended href instead of ".whl</a".
        const valueStart = p;
        while (p < len) {
          const c = body.charCodeAt(p);
          if (isSpace(c) || c === GT || c === LT) break;
          p++;
        }
        value = body.slice(valueStart, p);
      }
    }
    attrs ??= new Map();
    if (!attrs.has(attrName)) attrs.set(attrName, value);
  }
}

/** Index of the `</name` end tag at or after `from` (case-insensitive), or -1. */
function findEndTag(body: string, from: number, name: string): number {
  let p = from;
  for (;;) {
    const i = body.indexOf("</", p);
    if (i === -1) return -1;
    const nameStart = i + 2;
    const after = body.charCodeAt(nameStart + name.length);
    if (
      body.slice(nameStart, nameStart + name.length).toLowerCase() === name &&
      (Number.isNaN(after) || isSpace(after) || after === SLASH || after === GT)
    ) {
      return i;
    }
    p = nameStart;
  }
}

const COMMENT_META = /^\s*(SERIAL|TIMESTAMP)\s+(\d{1,16})\s*$/;

function readCommentMeta(comment: string, meta: PageMeta): void {
  if (comment.length > 64) return;
  const match = COMMENT_META.exec(comment);
  if (!match) return;
  const value = Number(match[2]);
  if (!Number.isSafeInteger(value)) return;
  // PyPI's `<!--SERIAL n-->` trailer; download.pytorch.org's `<!--TIMESTAMP n-->`.
  if (match[1] === "SERIAL") meta.lastSerial ??= value;
  else meta.timestamp ??= value;
}

function scanHtml(body: string): ScanResult {
  const len = body.length;
  const anchors: RawAnchor[] = [];
  const meta: PageMeta = {};
  let baseHref: string | undefined;
  let sawHtmlElement = false;
  let title: string | undefined;
  let heading: string | undefined;
  let inHeading = false;
  let sample = "";
  let open: RawAnchor | null = null;
  let unfinished: string | undefined;
  const endsInside = (at: number): void => {
    unfinished = body.slice(at, at + 40);
  };

  const addText = (from: number, to: number): void => {
    if (to <= from) return;
    if (open && open.text.length < ANCHOR_TEXT_LIMIT)
      open.text += body.slice(from, Math.min(to, from + ANCHOR_TEXT_LIMIT));
    if (inHeading && heading !== undefined && heading.length < HEADING_LIMIT) {
      heading += body.slice(from, Math.min(to, from + HEADING_LIMIT));
    }
    if (sample.length < SAMPLE_LIMIT) sample += `${body.slice(from, Math.min(to, from + SAMPLE_LIMIT))} `;
  };
  const closeAnchor = (): void => {
    if (open) anchors.push(open);
    open = null;
  };

  let pos = 0;
  while (pos < len) {
    const lt = body.indexOf("<", pos);
    if (lt === -1) {
      addText(pos, len);
      break;
    }
    addText(pos, lt);
    const next = body.charCodeAt(lt + 1);

    if (next === BANG) {
      if (body.startsWith("--", lt + 2)) {
        const contentStart = lt + 4;
        if (body.charCodeAt(contentStart) === GT) {
          pos = contentStart + 1; // `<!-->` is an empty comment
        } else if (body.startsWith("->", contentStart)) {
          pos = contentStart + 2; // so is `<!--->`
        } else {
          const end = body.indexOf("-->", contentStart);
          if (end === -1) {
            endsInside(lt);
            break; // an unterminated comment swallows the rest of the document
          }
          readCommentMeta(body.slice(contentStart, end), meta);
          pos = end + 3;
        }
      } else {
        // <!DOCTYPE ...>, <![CDATA[...]]> or a bogus comment: skipped up to ">".
        if (body.slice(lt + 2, lt + 9).toLowerCase() === "doctype") sawHtmlElement = true;
        const end = body.indexOf(">", lt + 2);
        if (end === -1) {
          endsInside(lt);
          break;
        }
        pos = end + 1;
      }
      continue;
    }

    if (next === QUESTION) {
      const end = body.indexOf(">", lt + 2); // `<?xml ...?>`: a bogus comment in HTML
      if (end === -1) {
        endsInside(lt);
        break;
      }
      pos = end + 1;
      continue;
    }

    if (next === SLASH) {
      const nameStart = lt + 2;
      if (isAsciiAlpha(body.charCodeAt(nameStart))) {
        const nameEnd = tagNameEnd(body, nameStart);
        const name = tagName(body, nameStart, nameEnd);
        if (name === "a") closeAnchor();
        else if (name === "h1") inHeading = false;
      }
      const end = body.indexOf(">", nameStart);
      if (end === -1) {
        endsInside(lt);
        break;
      }
      pos = end + 1;
      continue;
    }

    if (!isAsciiAlpha(next)) {
      addText(lt, lt + 1); // a "<" that starts no tag is text
      pos = lt + 1;
      continue;
    }

    const tag = readStartTag(body, lt + 1);
    if (!tag) {
      endsInside(lt);
      break; // the document ends inside a tag: drop the unfinished tag
    }
    pos = tag.end;
    if (HTML_ELEMENTS.has(tag.name)) sawHtmlElement = true;

    switch (tag.name) {
      case "a":
        closeAnchor(); // `<a>` cannot nest; a new one ends the previous
        open = { attrs: tag.attrs, text: "" };
        break;
      case "base": {
        const href = tag.attrs.get("href");
        if (baseHref === undefined && href !== undefined) baseHref = href;
        break;
      }
      case "meta":
        if (decodeEntities(tag.attrs.get("name") ?? "").toLowerCase() === "pypi:repository-version") {
          const content = decodeEntities(tag.attrs.get("content") ?? "").trim();
          if (content !== "") meta.apiVersion ??= content;
        }
        break;
      case "h1":
        if (heading === undefined) {
          heading = "";
          inHeading = true;
        }
        break;
      default:
        if (RAW_TEXT_ELEMENTS.has(tag.name)) {
          const endTag = findEndTag(body, pos, tag.name);
          const contentEnd = endTag === -1 ? len : endTag;
          if (tag.name === "title") {
            title ??= body.slice(pos, contentEnd);
            addText(pos, contentEnd);
          }
          if (endTag === -1) {
            pos = len;
          } else {
            const gt = body.indexOf(">", endTag);
            pos = gt === -1 ? len : gt + 1;
          }
        }
    }
  }
  closeAnchor(); // an anchor left open at the end of a (truncated) page still has a complete href

  return { anchors, baseHref, meta, sawHtmlElement, title, heading, sample, unfinished };
}

const NAMED_REFERENCES: Record<string, string> = {
  amp: "&",
  AMP: "&",
  lt: "<",
  LT: "<",
  gt: ">",
  GT: ">",
  quot: '"',
  QUOT: '"',
  apos: "'",
  nbsp: "\u00a0",
};
/** Legacy names a browser also decodes without the trailing ";". */
const LEGACY_REFERENCES = new Set(["amp", "AMP", "lt", "LT", "gt", "GT", "quot", "QUOT", "nbsp"]);
const CHARACTER_REFERENCE = /&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]{0,31}))(;?)/g;

function codePointText(codePoint: number): string {
  if (codePoint === 0 || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff))
    return "\ufffd";
  return String.fromCodePoint(codePoint);
}

/**
 * Decodes character references (`&gt;`, `&#x27;`, `&#60;`, ...). Only the names index pages use are
 * known; any other named reference is left as written.
 */
function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(
    CHARACTER_REFERENCE,
    (whole: string, dec?: string, hex?: string, name?: string, semicolon?: string) => {
      if (dec !== undefined) return codePointText(Number.parseInt(dec, 10));
      if (hex !== undefined) return codePointText(Number.parseInt(hex, 16));
      if (name === undefined) return whole;
      const decoded = NAMED_REFERENCES[name];
      if (decoded === undefined || (!semicolon && !LEGACY_REFERENCES.has(name))) return whole;
      return decoded;
    },
  );
}

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
