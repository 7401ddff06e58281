// PEP 691 JSON simple index pages -> ProjectPage / ProjectList, with every field type-checked.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/#json-serialization
// PEP 691 (JSON form, meta.api-version): https://peps.python.org/pep-0691/
// PEP 592 (yanked): https://peps.python.org/pep-0592/
// PEP 700 (size, upload-time, versions): https://peps.python.org/pep-0700/
// PEP 714 (core-metadata, legacy dist-info-metadata): https://peps.python.org/pep-0714/

import { MalformedPageError } from "../errors.js";
import { hasInnerDotSegments } from "./href-dot-segments.js";
import type { DistributionFile, PageMeta, ProjectList, ProjectPage } from "./project-page.js";
import { isSafeFilename, splitHashFragment } from "./simple-index-html.js";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function wrongType(pageUrl: string, field: string, expected: string, value: unknown): MalformedPageError {
  return new MalformedPageError(pageUrl, `${field}: expected ${expected}, got ${typeName(value)}`);
}

function parseRoot(body: string, pageUrl: string): JsonObject {
  let root: unknown;
  try {
    root = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new MalformedPageError(pageUrl, `invalid JSON: ${why}`);
  }
  if (!isObject(root)) throw wrongType(pageUrl, "top level", "an object", root);
  return root;
}

const API_VERSION = /^(\d+)\.(\d+)$/;

function readMeta(root: JsonObject, pageUrl: string): PageMeta {
  const meta: PageMeta = {};
  const raw = root.meta;
  if (raw === undefined || raw === null) return meta;
  if (!isObject(raw)) throw wrongType(pageUrl, "meta", "an object", raw);

  const apiVersion = raw["api-version"];
  if (apiVersion !== undefined && apiVersion !== null) {
    if (typeof apiVersion !== "string") throw wrongType(pageUrl, "meta.api-version", "a string", apiVersion);
    const match = API_VERSION.exec(apiVersion.trim());
    if (!match) throw new MalformedPageError(pageUrl, `meta.api-version: "${apiVersion}" is not a version`);
    // PEP 691: a new major version means clients must not assume they understand the page.
    if (match[1] !== "1") {
      throw new MalformedPageError(
        pageUrl,
        `meta.api-version ${apiVersion} is not supported (freshmirror reads 1.x)`,
      );
    }
    meta.apiVersion = apiVersion.trim();
  }

  const lastSerial = raw["_last-serial"];
  if (lastSerial !== undefined && lastSerial !== null) {
    if (typeof lastSerial !== "number" || !Number.isSafeInteger(lastSerial) || lastSerial < 0) {
      throw wrongType(pageUrl, "meta._last-serial", "a non-negative integer", lastSerial);
    }
    meta.lastSerial = lastSerial;
  }
  return meta;
}

const HEX = /^[0-9a-f]+$/;

/** `{ "sha256": "ABC..." }` -> `{ sha256: "abc..." }`, rejecting values that are not hex strings. */
function readHashes(raw: unknown, pageUrl: string, field: string): Record<string, string> {
  if (!isObject(raw)) throw wrongType(pageUrl, field, "an object", raw);
  const hashes: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== "string") throw wrongType(pageUrl, `${field}.${name}`, "a string", value);
    const hex = value.trim().toLowerCase();
    if (!HEX.test(hex)) throw new MalformedPageError(pageUrl, `${field}.${name}: not a hex digest`);
    hashes[name.toLowerCase()] = hex;
  }
  return hashes;
}

/** PEP 714: `core-metadata` wins over the older `dist-info-metadata` (and PyPI's one-time `data-dist-info-metadata`). */
const CORE_METADATA_KEYS = ["core-metadata", "dist-info-metadata", "data-dist-info-metadata"] as const;

function readCoreMetadata(file: JsonObject, pageUrl: string, at: string): false | Record<string, string> {
  for (const key of CORE_METADATA_KEYS) {
    const value = file[key];
    if (value === undefined || value === null) continue;
    if (typeof value === "boolean") return value ? {} : false;
    if (isObject(value)) return readHashes(value, pageUrl, `${at}.${key}`);
    throw wrongType(pageUrl, `${at}.${key}`, "a boolean or an object of hashes", value);
  }
  return false;
}

function readFile(raw: unknown, index: number, pageUrl: string): DistributionFile | null {
  const at = `files[${index}]`;
  if (!isObject(raw)) throw wrongType(pageUrl, at, "an object", raw);

  const filename = raw.filename;
  if (filename === undefined) throw new MalformedPageError(pageUrl, `${at}.filename: missing`);
  if (typeof filename !== "string") throw wrongType(pageUrl, `${at}.filename`, "a string", filename);
  if (!isSafeFilename(filename)) {
    throw new MalformedPageError(
      pageUrl,
      `${at}.filename: "${filename.slice(0, 80)}" is not a plain file name`,
    );
  }

  const rawUrl = raw.url;
  if (rawUrl === undefined) throw new MalformedPageError(pageUrl, `${at}.url: missing`);
  if (typeof rawUrl !== "string") throw wrongType(pageUrl, `${at}.url`, "a string", rawUrl);
  let resolved: URL;
  try {
    resolved = new URL(rawUrl.trim(), pageUrl); // PEP 691: relative URLs resolve against the page URL
  } catch {
    throw new MalformedPageError(pageUrl, `${at}.url: not a URL`);
  }
  // Like the HTML parser: a file we could only fetch through another scheme is not offered.
  if (resolved.protocol !== "https:" && resolved.protocol !== "http:") return null;
  const { url, hashes: fragmentHashes } = splitHashFragment(resolved);

  const rawHashes = raw.hashes;
  const hashes =
    rawHashes === undefined || rawHashes === null ? {} : readHashes(rawHashes, pageUrl, `${at}.hashes`);
  for (const [name, value] of Object.entries(fragmentHashes)) hashes[name] ??= value;

  const file: DistributionFile = {
    filename,
    url,
    hashes,
    yanked: false,
    coreMetadata: readCoreMetadata(raw, pageUrl, at),
  };
  if (hasInnerDotSegments(rawUrl.trim())) file.dotSegmentHref = rawUrl.trim().replace(/#.*/s, "");

  const requiresPython = raw["requires-python"];
  if (requiresPython !== undefined && requiresPython !== null) {
    if (typeof requiresPython !== "string") {
      throw wrongType(pageUrl, `${at}.requires-python`, "a string", requiresPython);
    }
    if (requiresPython.trim() !== "") file.requiresPython = requiresPython.trim();
  }

  const yanked = raw.yanked;
  if (typeof yanked === "string") file.yanked = yanked;
  else if (yanked === true) file.yanked = "";
  else if (yanked !== undefined && yanked !== null && yanked !== false) {
    throw wrongType(pageUrl, `${at}.yanked`, "a boolean or a string", yanked);
  }

  const size = raw.size;
  if (size !== undefined && size !== null) {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw wrongType(pageUrl, `${at}.size`, "a non-negative integer", size);
    }
    file.size = size;
  }

  const uploadTime = raw["upload-time"];
  if (uploadTime !== undefined && uploadTime !== null) {
    if (typeof uploadTime !== "string") throw wrongType(pageUrl, `${at}.upload-time`, "a string", uploadTime);
    if (Number.isNaN(Date.parse(uploadTime))) {
      throw new MalformedPageError(
        pageUrl,
        `${at}.upload-time: "${uploadTime.slice(0, 40)}" is not an ISO 8601 time`,
      );
    }
    file.uploadTime = uploadTime;
  }
  return file;
}

function readVersions(raw: unknown, pageUrl: string): string[] {
  if (!Array.isArray(raw)) throw wrongType(pageUrl, "versions", "an array", raw);
  return raw.map((version, i) => {
    if (typeof version !== "string") throw wrongType(pageUrl, `versions[${i}]`, "a string", version);
    return version;
  });
}

/** Parses a PEP 691 project page (`application/vnd.pypi.simple.v1+json`). */
export function parseProjectPageJson(body: string, pageUrl: string, requestedName: string): ProjectPage {
  const root = parseRoot(body, pageUrl);
  const meta = readMeta(root, pageUrl);

  const name = root.name;
  if (name !== undefined && typeof name !== "string") throw wrongType(pageUrl, "name", "a string", name);

  const rawFiles = root.files;
  if (rawFiles === undefined) throw new MalformedPageError(pageUrl, "files: missing");
  if (!Array.isArray(rawFiles)) throw wrongType(pageUrl, "files", "an array", rawFiles);
  const files: DistributionFile[] = [];
  rawFiles.forEach((raw, index) => {
    const file = readFile(raw, index, pageUrl);
    if (file) files.push(file);
  });

  const page: ProjectPage = { name: name || requestedName, files, meta };
  if (root.versions !== undefined && root.versions !== null)
    page.versions = readVersions(root.versions, pageUrl);
  return page;
}

/** Parses a PEP 691 project list (`/simple/` as JSON). */
export function parseProjectListJson(body: string, pageUrl: string): ProjectList {
  const root = parseRoot(body, pageUrl);
  const meta = readMeta(root, pageUrl);
  const rawProjects = root.projects;
  if (rawProjects === undefined) throw new MalformedPageError(pageUrl, "projects: missing");
  if (!Array.isArray(rawProjects)) throw wrongType(pageUrl, "projects", "an array", rawProjects);
  const projects = rawProjects.map((raw, i) => {
    if (!isObject(raw)) throw wrongType(pageUrl, `projects[${i}]`, "an object", raw);
    if (typeof raw.name !== "string") throw wrongType(pageUrl, `projects[${i}].name`, "a string", raw.name);
    if (raw.name.trim() === "") throw new MalformedPageError(pageUrl, `projects[${i}].name: empty`);
    return raw.name;
  });
  return { projects, meta };
}
