// Which versions and files a mirror's project page lacks compared with upstream's, and which files
// differ (sha256). Pure: pages in, comparison out; `freshmirror check` fetches the pages.
// Versions come from the file names (wheel and sdist names, PEP 427 / PEP 625), ordered and
// filtered by PEP 440 (https://peps.python.org/pep-0440/); pages are PEP 503 / PEP 691 pages
// already parsed into ProjectPage (https://peps.python.org/pep-0503/); upload times are PEP 700's.
import { parseDistributionFilename } from "./distribution-filename.js";
import { matchesSpecifierSet, parseSpecifierSet, type SpecifierSet } from "./pep440-specifier.js";
import { compareVersions, parseVersion } from "./pep440-version.js";
import { normalizeProjectName, type ProjectPage } from "./project-page.js";

export interface CheckedFile {
  filename: string;
  /** From the file name; absent for files that are neither wheels nor sdists. */
  version?: string;
  sha256?: string;
  size?: number;
  /** Upstream's PEP 700 upload time (ISO 8601), when given. */
  uploadTime?: string;
  yanked?: boolean;
}

export interface MissingVersion {
  version: string;
  /** Files of this version upstream lists. */
  files: number;
  /** How many of them the mirror lacks (all of them unless the mirror has the version in part). */
  missing: number;
  /** The earliest upload time of the missing files: upstream has had something the mirror lacks since then. */
  behindSince?: string;
  behindMs?: number;
}

export interface DifferingFile {
  filename: string;
  version?: string;
  upstreamSha256: string;
  mirrorSha256: string;
}

/** What comparing one project's two pages finds. */
export interface ProjectComparison {
  project: string;
  status: "current" | "behind";
  /** The mirror answered 404 for the project. */
  mirrorLacksProject: boolean;
  /** Wanted (matching --version) versions and files upstream lists. */
  upstreamVersions: number;
  upstreamFiles: number;
  /** The newest wanted version upstream has, and the newest the mirror has all files of. */
  newestUpstream?: string;
  newestOnMirror?: string;
  missingVersions: MissingVersion[];
  missingFiles: CheckedFile[];
  differs: DifferingFile[];
  behindSince?: string;
  behindMs?: number;
}

function fileVersion(filename: string, project: string): string | undefined {
  return parseDistributionFilename(filename, project)?.version;
}

function versionOrder(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va && vb) return compareVersions(va, vb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares a project's page on the mirror (null: the mirror has no such project) with upstream's.
 * Pure: `now` is passed in.
 */
export function compareProjectPages(
  project: string,
  upstream: ProjectPage,
  mirror: ProjectPage | null,
  versionSet: SpecifierSet | undefined,
  now: number,
): ProjectComparison {
  const mirrorFiles = new Map((mirror?.files ?? []).map((f) => [f.filename, f]));
  const wanted = upstream.files.filter((file) => {
    if (versionSet === undefined) return true;
    const version = fileVersion(file.filename, project);
    return version !== undefined && matchesSpecifierSet(versionSet, version);
  });
  const byVersion = new Map<string, { files: number; missing: CheckedFile[] }>();
  const missingFiles: CheckedFile[] = [];
  const differs: DifferingFile[] = [];
  for (const file of wanted) {
    const version = fileVersion(file.filename, project);
    const key = version ?? "(unknown version)";
    const entry = byVersion.get(key) ?? { files: 0, missing: [] };
    entry.files++;
    byVersion.set(key, entry);
    const onMirror = mirrorFiles.get(file.filename);
    const upstreamSha = file.hashes.sha256;
    if (onMirror === undefined) {
      const missing: CheckedFile = {
        filename: file.filename,
        ...(version === undefined ? {} : { version }),
        ...(upstreamSha === undefined ? {} : { sha256: upstreamSha }),
        ...(file.size === undefined ? {} : { size: file.size }),
        ...(file.uploadTime === undefined ? {} : { uploadTime: file.uploadTime }),
        ...(file.yanked === false ? {} : { yanked: true }),
      };
      entry.missing.push(missing);
      missingFiles.push(missing);
      continue;
    }
    const mirrorSha = onMirror.hashes.sha256;
    if (upstreamSha !== undefined && mirrorSha !== undefined && upstreamSha !== mirrorSha) {
      differs.push({
        filename: file.filename,
        ...(version === undefined ? {} : { version }),
        upstreamSha256: upstreamSha,
        mirrorSha256: mirrorSha,
      });
    }
  }

  const since = (files: CheckedFile[]): number | undefined => {
    const times = files
      .map((f) => (f.uploadTime ? Date.parse(f.uploadTime) : Number.NaN))
      .filter(Number.isFinite);
    return times.length > 0 ? Math.min(...times) : undefined;
  };
  const missingVersions: MissingVersion[] = [];
  const versions = [...byVersion.keys()].sort(versionOrder);
  for (const version of versions) {
    const entry = byVersion.get(version);
    if (entry === undefined || entry.missing.length === 0) continue;
    const at = since(entry.missing);
    missingVersions.push({
      version,
      files: entry.files,
      missing: entry.missing.length,
      ...(at === undefined
        ? {}
        : { behindSince: new Date(at).toISOString(), behindMs: Math.max(0, now - at) }),
    });
  }
  const complete = versions.filter(
    (v) => v !== "(unknown version)" && (byVersion.get(v)?.missing.length ?? 1) === 0,
  );
  const known = versions.filter((v) => v !== "(unknown version)");
  const behindAt = since(missingFiles);
  const behind = missingFiles.length > 0 || differs.length > 0;
  return {
    project,
    status: behind ? "behind" : "current",
    mirrorLacksProject: mirror === null,
    upstreamVersions: byVersion.size,
    upstreamFiles: wanted.length,
    ...(known.length > 0 ? { newestUpstream: known[known.length - 1] as string } : {}),
    ...(complete.length > 0 ? { newestOnMirror: complete[complete.length - 1] as string } : {}),
    missingVersions,
    missingFiles,
    differs,
    ...(behindAt === undefined
      ? {}
      : { behindSince: new Date(behindAt).toISOString(), behindMs: Math.max(0, now - behindAt) }),
  };
}

/** A project's page URL under a simple index URL (PEP 503: the normalized name, a trailing slash). */
export function projectPageUrl(indexUrl: string, project: string): string {
  return `${indexUrl.replace(/\/+$/, "")}/${normalizeProjectName(project)}/`;
}

/**
 * The specifier set a `--version` option means: a bare version (`2.9.1`) is `==2.9.1`, anything
 * else must be a non-empty PEP 440 specifier set. Undefined when `text` is neither.
 */
export function versionFilter(text: string): { spec: string; set: SpecifierSet } | undefined {
  const spec = /^\s*v?\d/.test(text) ? `==${text.trim()}` : text;
  try {
    const set = parseSpecifierSet(spec);
    return set.specifiers.length === 0 ? undefined : { spec, set };
  } catch {
    return undefined;
  }
}
