// Renders a snapshot's project list and project pages as PEP 503 HTML and PEP 691 JSON
// (api-version 1.1: PEP 700 `versions`, `size`, `upload-time`). Hrefs are relative to the page,
// so the mirror works behind a reverse proxy at any prefix.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/
import { escapeHtml } from "../http/html-escape.js";
import type { ProjectRecord } from "../store/state-store.js";
import { type OtherHash, parseOtherHash } from "../sync/other-hash.js";
import { parseDistributionFilename } from "./distribution-filename.js";
import { relativeHref } from "./mirror-paths.js";
import { compareVersions, formatVersion, parseVersion } from "./pep440-version.js";

export const API_VERSION = "1.1";

/**
 * A file as a page lists it: from a published snapshot (everything known) or from an upstream
 * page fetched on demand (hash and size may be unknown until the file is downloaded).
 */
export interface ServedFile {
  /** Decoded mirror path. */
  path: string;
  filename: string;
  sha256: string | null;
  size: number | null;
  requiresPython: string | null;
  yanked: string | null;
  uploadTime: string | null;
  metadataSha256: string | null;
  /** Core metadata offered without a known hash (PEP 658 `data-core-metadata="true"`). */
  metadataOffered?: boolean;
  /**
   * Without a sha256: the other digest upstream listed (`sha512=<hex>`, see
   * src/sync/other-hash.ts), passed on so that clients check it as the mirror did.
   */
  otherHash?: string | null;
}

/** The hash a page gives for a file: its sha256, else the other digest upstream listed. */
function pageHash(file: ServedFile): OtherHash | undefined {
  return file.sha256 ? { name: "sha256", hex: file.sha256 } : parseOtherHash(file.otherHash);
}

export function renderProjectListHtml(projects: readonly ProjectRecord[]): string {
  const links = projects
    .map((p) => `<a href="${encodeURIComponent(p.name)}/">${escapeHtml(p.displayName)}</a>`)
    .join("\n");
  return `<!DOCTYPE html>
<html>
<head><meta name="pypi:repository-version" content="${API_VERSION}"><title>Simple index</title></head>
<body>
${links}
</body>
</html>
`;
}

export function renderProjectListJson(projects: readonly ProjectRecord[]): string {
  return JSON.stringify({
    meta: { "api-version": API_VERSION },
    projects: projects.map((p) => ({ name: p.displayName })),
  });
}

/** The versions of a project's files, PEP 440 ordered (PEP 700 `versions`). */
export function versionsOf(files: readonly ServedFile[]): string[] {
  const versions = new Map<string, ReturnType<typeof parseVersion>>();
  for (const file of files) {
    const parsed = parseDistributionFilename(file.filename);
    if (!parsed) continue;
    const version = parseVersion(parsed.version);
    if (version) versions.set(formatVersion(version), version);
  }
  return [...versions.entries()]
    .sort(([, a], [, b]) => (a && b ? compareVersions(a, b) : 0))
    .map(([text]) => text);
}

/**
 * @param pageDir decoded path segments of the page's directory under the mirror prefix, e.g.
 *   ["whl", "cu121", "torch"], for relative hrefs.
 */
export function renderProjectPageHtml(
  project: Pick<ProjectRecord, "displayName">,
  files: readonly ServedFile[],
  pageDir: readonly string[],
): string {
  const links = files.map((file) => {
    const hash = pageHash(file);
    const fragment = hash ? `#${hash.name}=${hash.hex}` : "";
    let attributes = `href="${escapeHtml(relativeHref(pageDir, file.path))}${fragment}"`;
    if (file.requiresPython) attributes += ` data-requires-python="${escapeHtml(file.requiresPython)}"`;
    if (file.yanked !== null) attributes += ` data-yanked="${escapeHtml(file.yanked)}"`;
    if (file.metadataSha256) {
      // PEP 714: data-core-metadata; the legacy data-dist-info-metadata too, for older pip.
      attributes += ` data-core-metadata="sha256=${file.metadataSha256}" data-dist-info-metadata="sha256=${file.metadataSha256}"`;
    } else if (file.metadataOffered) {
      attributes += ` data-core-metadata="true" data-dist-info-metadata="true"`;
    }
    return `<a ${attributes}>${escapeHtml(file.filename)}</a><br/>`;
  });
  return `<!DOCTYPE html>
<html>
<head><meta name="pypi:repository-version" content="${API_VERSION}"><title>Links for ${escapeHtml(project.displayName)}</title></head>
<body>
<h1>Links for ${escapeHtml(project.displayName)}</h1>
${links.join("\n")}
</body>
</html>
`;
}

export function renderProjectPageJson(
  project: Pick<ProjectRecord, "name">,
  files: readonly ServedFile[],
  pageDir: readonly string[],
): string {
  // PEP 700 makes `size` mandatory from 1.1 on; a proxied HTML page may not tell sizes.
  const sizesKnown = files.every((f) => f.size !== null);
  return JSON.stringify({
    meta: { "api-version": sizesKnown ? API_VERSION : "1.0" },
    name: project.name,
    versions: versionsOf(files),
    files: files.map((file) => {
      const hash = pageHash(file);
      const entry: Record<string, unknown> = {
        filename: file.filename,
        url: relativeHref(pageDir, file.path),
        hashes: hash ? { [hash.name]: hash.hex } : {},
      };
      if (file.size !== null) entry.size = file.size;
      if (file.requiresPython) entry["requires-python"] = file.requiresPython;
      // PEP 714: only `core-metadata`, never the old `dist-info-metadata` key.
      entry["core-metadata"] = file.metadataSha256
        ? { sha256: file.metadataSha256 }
        : file.metadataOffered === true;
      entry.yanked = file.yanked === null ? false : file.yanked === "" ? true : file.yanked;
      if (file.uploadTime) entry["upload-time"] = file.uploadTime;
      return entry;
    }),
  });
}
