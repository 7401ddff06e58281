// The HTML tokenizer under the PEP 503 layer: one forward pass over a simple index page that
// collects what the layer above needs (anchors with their raw attributes and text, the first
// <base href>, PyPI's comment trailers, the <meta> repository version, the title and first <h1>,
// a text sample, whether the page ends inside a tag). It follows the WHATWG tokenizer where it
// matters for these pages (comments, raw-text <script>/<style>, quoted/unquoted attributes,
// first-attribute-wins): https://html.spec.whatwg.org/multipage/parsing.html#tokenization
// It only ever searches forward with indexOf or a bounded loop, so a 3 MB page is one linear scan.
// Attribute values and texts stay raw here; html-entities.ts decodes the ones that are used.
//
// Why our own and not htmlparser2 (12.0.0, evaluated under this layer, 2026-11): measured on the
// 66 pages in test/fixtures/real-world/pep503-html (9 MB, 27,382 links) and on a synthetic
// download.pytorch.org-like page of 255,000 links (124 MB), tokenizer alone, 2 loaded cores, best
// of several runs: real pages 77-155 ms here vs 327-623 ms with htmlparser2; the 255k page 3.7 s vs
// 8.6 s; retained heap after GC 129 MB vs 98 MB and peak RSS 630 MB vs 574 MB (htmlparser2 ~10%
// smaller). Run under simple-index-html.test.ts, htmlparser2 fails one real-world case: the
// `<a href=/torch-1.1.0-...whl</a>` markup download.pytorch.org served in 2020 (it reads the href
// as ".whl</a"), which this tokenizer recovers on purpose. So ours is 2x faster, correct on the
// pages we mirror, and needs no five packages (htmlparser2, entities, domhandler, domutils,
// domelementtype: 1.1 MB); htmlparser2's one clear gain, the full named-entity table, is covered
// for what index pages contain by html-entities.ts.
import { decodeEntities } from "./html-entities.js";
import type { PageMeta } from "./project-page.js";

/** An `<a>` element as written: attribute values are raw (entities not yet decoded). */
export interface RawAnchor {
  attrs: ReadonlyMap<string, string>;
  text: string;
}

export interface ScanResult {
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

export function isSpace(c: number): boolean {
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

export function scanHtml(body: string): ScanResult {
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
