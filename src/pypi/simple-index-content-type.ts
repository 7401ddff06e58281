// Picks the HTML or JSON parser for a simple index response by its Content-Type.
// PEP 691 content negotiation: https://peps.python.org/pep-0691/#version-format-selection
// https://packaging.python.org/en/latest/specifications/simple-repository-api/#serve-file-content-negotiation

import { MalformedPageError } from "../errors.js";
import type { ProjectList, ProjectPage } from "./project-page.js";
import { parseProjectListHtml, parseProjectPageHtml } from "./simple-index-html.js";
import { parseProjectListJson, parseProjectPageJson } from "./simple-index-json.js";

/**
 * What freshmirror asks upstream for: PEP 691 JSON first, then PEP 503 HTML. Plain text/html last
 * for old or static indexes (download.pytorch.org) that only know that type.
 */
export const SIMPLE_INDEX_ACCEPT =
  "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

type Format = "json" | "html";

const SIMPLE_MEDIA_TYPE = /^application\/vnd\.pypi\.simple\.(v\d+|latest)\+(json|html)$/;

function startsLikeJson(body: string): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff) continue;
    return c === 0x7b; // "{"
  }
  return false;
}

/** The parser a response needs, from its Content-Type (parameters such as charset are ignored). */
export function simpleIndexFormat(body: string, contentType: string | undefined, pageUrl: string): Format {
  const mediaType = (contentType ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? "";
  const simple = SIMPLE_MEDIA_TYPE.exec(mediaType);
  if (simple) {
    if (simple[1] !== "v1" && simple[1] !== "latest") {
      throw new MalformedPageError(pageUrl, `unsupported simple API version in Content-Type "${mediaType}"`);
    }
    return simple[2] === "json" ? "json" : "html";
  }
  if (mediaType === "" || mediaType === "text/html" || mediaType === "application/xhtml+xml") return "html";
  // application/json, and anything mislabelled (download.pytorch.org once served its pages as
  // binary/octet-stream, pytorch/pytorch#49559): JSON when the body is a JSON object, else HTML.
  // The chosen parser still rejects a body that is neither.
  return startsLikeJson(body) ? "json" : "html";
}

/** Parses a project page response as JSON or HTML according to its Content-Type. */
export function parseSimpleIndex(
  body: string,
  contentType: string | undefined,
  pageUrl: string,
  requestedName: string,
): ProjectPage {
  return simpleIndexFormat(body, contentType, pageUrl) === "json"
    ? parseProjectPageJson(body, pageUrl, requestedName)
    : parseProjectPageHtml(body, pageUrl, requestedName);
}

/** Parses a project list response as JSON or HTML according to its Content-Type. */
export function parseSimpleProjectList(
  body: string,
  contentType: string | undefined,
  pageUrl: string,
): ProjectList {
  return simpleIndexFormat(body, contentType, pageUrl) === "json"
    ? parseProjectListJson(body, pageUrl)
    : parseProjectListHtml(body, pageUrl);
}
