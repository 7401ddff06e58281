// The planner's file filter: which files of one project page a mirror keeps.
// Tags come from file names (https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/),
// versions are matched with PEP 440 specifiers
// (https://packaging.python.org/en/latest/specifications/version-specifiers/).

import { type ParsedDistribution, parseDistributionFilename } from "./distribution-filename.js";
import { matchesSpecifierSet, parseSpecifierSet } from "./pep440-specifier.js";
import { compareVersions, parseVersion, publicVersion, type Version } from "./pep440-version.js";
import type { DistributionFile, ProjectPage } from "./project-page.js";

export interface FileFilters {
  /** PEP 440 specifier set, e.g. ">=2.5"; undefined = all. */
  versions?: string;
  /** Globs (`*`, `?`) on wheel platform tags, e.g. "manylinux*_x86_64", "linux_x86_64"; undefined = all. */
  platforms?: string[];
  /** Wheel python/abi tags to keep, e.g. ["cp311","cp312"]; undefined = all. */
  python?: string[];
  /** Keep files of the N highest releases (public versions) that pass the other filters; 0/undefined = all. */
  keepLatest?: number;
  prereleases: boolean;
  sdists: boolean;
  /** Keep yanked files (they stay marked yanked). */
  yanked: boolean;
}

export interface SkippedFile {
  filename: string;
  reason: string;
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

interface PythonWanted {
  /** The listed tags, compared as-is with python and abi tags. */
  tags: Set<string>;
  /** [major, minor] per listed tag that names an interpreter version (`cp311`, `py3`, `cp313t`); minor -1 when absent. */
  versions: Array<[number, number]>;
  /** [major, minor] per listed `cpXY` (not free-threaded), for abi3 wheels. */
  cpython: Array<[number, number]>;
}

function pythonWanted(tags: string[]): PythonWanted {
  const wanted: PythonWanted = { tags: new Set(tags), versions: [], cpython: [] };
  for (const tag of tags) {
    const m = /^[a-z]+([0-9])([0-9]*)t?$/.exec(tag);
    if (!m) continue;
    const major = Number(m[1]);
    const minor = m[2] === "" ? -1 : Number(m[2]);
    wanted.versions.push([major, minor]);
    if (/^cp[0-9]+$/.test(tag) && minor !== -1) wanted.cpython.push([major, minor]);
  }
  return wanted;
}

// A pure-Python tag (`py3`, `py311`) is usable by an interpreter of the same major version and, when it
// names a minor version, the same or a later minor (pip offers py311 to 3.12).
function pureTagFits(tag: string, wanted: PythonWanted): boolean {
  const m = /^py([0-9])([0-9]*)$/.exec(tag);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = m[2] === "" ? -1 : Number(m[2]);
  return wanted.versions.some(([wMajor, wMinor]) => wMajor === major && (minor === -1 || minor <= wMinor));
}

function pythonPasses(wheel: ParsedDistribution, wanted: PythonWanted): boolean {
  if (wheel.pythonTags.some((t) => wanted.tags.has(t)) || wheel.abiTags.some((t) => wanted.tags.has(t))) {
    return true;
  }
  // Generic wheels: `py3-none-any`, `py2.py3-none-any`, also `py3-none-<platform>` (cmake, ninja, ruff);
  // the platform filter judges the platform.
  if (wheel.abiTags.includes("none") && wheel.pythonTags.some((t) => pureTagFits(t, wanted))) return true;
  // Stable ABI: `cp39-abi3` runs on CPython 3.9 and later (not on free-threaded builds).
  if (wheel.abiTags.includes("abi3")) {
    return wheel.pythonTags.some((t) => {
      const m = /^cp([0-9])([0-9]+)$/.exec(t);
      if (!m) return false;
      const major = Number(m[1]);
      const minor = Number(m[2]);
      return wanted.cpython.some(([wMajor, wMinor]) => wMajor === major && wMinor >= minor);
    });
  }
  return false;
}

interface Candidate {
  version: Version;
  /** The version as the file name spells it. */
  text: string;
}

/**
 * Applies the mirror's filters to one project page. `selected` keeps the page's order; every other file
 * is in `skipped`, also in page order, with the first reason it failed. Throws when `filters.versions` is
 * not a valid specifier set (config validation should have caught it).
 */
export function selectFiles(
  page: ProjectPage,
  filters: FileFilters,
): { selected: DistributionFile[]; skipped: SkippedFile[] } {
  const specifiers = parseSpecifierSet(filters.versions ?? "");
  const platformRes = filters.platforms?.map(globToRegExp);
  const wanted = filters.python ? pythonWanted(filters.python) : undefined;

  // One slot per file, in page order: a reason, or a candidate still in the running.
  const outcome: Array<string | Candidate> = page.files.map((file): string | Candidate => {
    const dist = parseDistributionFilename(file.filename, page.name);
    const version = dist ? parseVersion(dist.version) : null;
    if (!dist || !version) return "not a wheel or sdist file name";
    if (file.yanked !== false && !filters.yanked) return "yanked";
    if (!matchesSpecifierSet(specifiers, version, { prereleases: true })) {
      return `version ${dist.version} does not match ${JSON.stringify(filters.versions)}`;
    }
    if (!matchesSpecifierSet(specifiers, version, { prereleases: filters.prereleases })) {
      return `pre-release ${dist.version}`;
    }
    if (dist.kind === "sdist") return filters.sdists ? { version, text: dist.version } : "sdist";
    if (platformRes) {
      const ok = dist.platformTags.some((t) => t === "any" || platformRes.some((re) => re.test(t)));
      if (!ok) return `platform ${dist.platformTags.join(".")} not wanted`;
    }
    if (wanted && !pythonPasses(dist, wanted)) {
      return `python ${dist.pythonTags.join(".")}-${dist.abiTags.join(".")} not wanted`;
    }
    return { version, text: dist.version };
  });

  const keep = filters.keepLatest ?? 0;
  if (keep > 0) {
    // Releases are counted by public version: 2.6.0+cu124, 2.6.0+cpu and 2.6.0 are one release,
    // so "keep the latest 3" keeps three releases in every variant, as operators mean it.
    const versions = outcome.flatMap((o) => (typeof o === "string" ? [] : [publicVersion(o.version)]));
    versions.sort((a, b) => compareVersions(b, a));
    let cutoff: Version | undefined;
    let distinct = 0;
    for (const v of versions) {
      if (cutoff !== undefined && compareVersions(v, cutoff) === 0) continue;
      if (++distinct > keep) break;
      cutoff = v;
    }
    if (cutoff !== undefined && distinct > keep) {
      for (const [i, o] of outcome.entries()) {
        if (typeof o !== "string" && compareVersions(publicVersion(o.version), cutoff) < 0) {
          outcome[i] = `version ${o.text} is not among the ${keep} latest`;
        }
      }
    }
  }

  const selected: DistributionFile[] = [];
  const skipped: SkippedFile[] = [];
  for (const [i, o] of outcome.entries()) {
    const file = page.files[i] as DistributionFile;
    if (typeof o === "string") skipped.push({ filename: file.filename, reason: o });
    else selected.push(file);
  }
  return { selected, skipped };
}
