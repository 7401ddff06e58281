// Renders a snapshot's project list and project pages as PEP 503 HTML and PEP 691 JSON
// (api-version 1.1: PEP 700 `versions`, `size`, `upload-time`). Hrefs are relative to the page,
// so the mirror works behind a reverse proxy at any prefix.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/
import type { FileRecord, ProjectRecord } from "../store/state-store.js";
import { relativeHref } from "../sync/mirror-paths.js";
import { compareVersions, formatVersion, parseVersion } from "../sync/pep440-version.js";
import { parseDistributionFilename } from "../upstream/distribution-filename.js";

export const API_VERSION = "1.1";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
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
export function versionsOf(files: readonly FileRecord[]): string[] {
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
  project: ProjectRecord,
  files: readonly FileRecord[],
  pageDir: readonly string[],
): string {
  const links = files.map((file) => {
    let attributes = `href="${escapeHtml(relativeHref(pageDir, file.path))}#sha256=${file.sha256}"`;
    if (file.requiresPython) attributes += ` data-requires-python="${escapeHtml(file.requiresPython)}"`;
    if (file.yanked !== null) attributes += ` data-yanked="${escapeHtml(file.yanked)}"`;
    if (file.metadataSha256) {
      // PEP 714: data-core-metadata; the legacy data-dist-info-metadata too, for older pip.
      attributes += ` data-core-metadata="sha256=${file.metadataSha256}" data-dist-info-metadata="sha256=${file.metadataSha256}"`;
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
  project: ProjectRecord,
  files: readonly FileRecord[],
  pageDir: readonly string[],
): string {
  return JSON.stringify({
    meta: { "api-version": API_VERSION },
    name: project.name,
    versions: versionsOf(files),
    files: files.map((file) => {
      const entry: Record<string, unknown> = {
        filename: file.filename,
        url: relativeHref(pageDir, file.path),
        hashes: { sha256: file.sha256 },
        size: file.size,
      };
      if (file.requiresPython) entry["requires-python"] = file.requiresPython;
      // PEP 714: only `core-metadata`, never the old `dist-info-metadata` key.
      entry["core-metadata"] = file.metadataSha256 ? { sha256: file.metadataSha256 } : false;
      entry.yanked = file.yanked === null ? false : file.yanked === "" ? true : file.yanked;
      if (file.uploadTime) entry["upload-time"] = file.uploadTime;
      return entry;
    }),
  });
}
