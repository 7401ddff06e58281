// Distribution file names: wheels and source distributions.
// Wheels: https://packaging.python.org/en/latest/specifications/binary-distribution-format/#file-name-convention
// Compressed tag sets: https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/#compressed-tag-sets
// Sdists: https://packaging.python.org/en/latest/specifications/source-distribution-format/#source-distribution-file-name
// (plus the legacy archive kinds older uploads use).

import { parseVersion } from "./pep440-version.js";
import { normalizeProjectName } from "./project-page.js";

export interface ParsedDistribution {
  kind: "wheel" | "sdist";
  /** PEP 503-normalized project name. */
  project: string;
  /** The version exactly as the file name spells it (`2.5.1+cu121`); a valid PEP 440 version. */
  version: string;
  /** Wheel build tag (`1` in `torch-2.10.0-1-cp310-none-macosx_11_0_arm64.whl`). */
  buildTag?: string;
  /** Wheel tags, each compressed set split on `.`; empty for sdists. */
  pythonTags: string[];
  abiTags: string[];
  platformTags: string[];
}

// PEP 508 project names.
const NAME_RE = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/i;
const TAG_RE = /^[a-z0-9_]+$/i;
const SDIST_SUFFIXES = [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"];

function splitTags(set: string): string[] | null {
  const tags = set.split(".");
  return tags.every((t) => TAG_RE.test(t)) ? tags : null;
}

// {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl
function parseWheel(stem: string): ParsedDistribution | null {
  const parts = stem.split("-");
  if (parts.length !== 5 && parts.length !== 6) return null;
  const [name, version] = parts as [string, string];
  const buildTag = parts.length === 6 ? parts[2] : undefined;
  const [py, abi, plat] = parts.slice(-3) as [string, string, string];
  if (!NAME_RE.test(name) || parseVersion(version) === null) return null;
  // The build tag starts with a digit.
  if (buildTag !== undefined && !/^[0-9][a-z0-9_.]*$/i.test(buildTag)) return null;
  const pythonTags = splitTags(py);
  const abiTags = splitTags(abi);
  const platformTags = splitTags(plat);
  if (!pythonTags || !abiTags || !platformTags) return null;
  return {
    kind: "wheel",
    project: normalizeProjectName(name),
    version,
    ...(buildTag !== undefined ? { buildTag } : {}),
    pythonTags,
    abiTags,
    platformTags,
  };
}

function sdist(name: string, version: string): ParsedDistribution {
  return {
    kind: "sdist",
    project: normalizeProjectName(name),
    version,
    pythonTags: [],
    abiTags: [],
    platformTags: [],
  };
}

// {name}-{version}.{ext}. Older sdists keep `-` in the name (`pytorch-triton-3.0.0+45fff310c8.tar.gz`),
// so the split is ambiguous in general.
function parseSdist(stem: string, expectedProject: string | undefined): ParsedDistribution | null {
  const dashes: number[] = [];
  for (let i = stem.indexOf("-"); i !== -1; i = stem.indexOf("-", i + 1)) dashes.push(i);
  const valid = (i: number): boolean => {
    const name = stem.slice(0, i);
    return NAME_RE.test(name) && parseVersion(stem.slice(i + 1)) !== null;
  };
  // When the caller knows the project, split where the prefix is that name (as pip does).
  if (expectedProject !== undefined) {
    const want = normalizeProjectName(expectedProject);
    const at = dashes.find((i) => normalizeProjectName(stem.slice(0, i)) === want && valid(i));
    if (at !== undefined) return sdist(stem.slice(0, at), stem.slice(at + 1));
  }
  // Otherwise the last `-` whose remainder is a version.
  for (let k = dashes.length - 1; k >= 0; k--) {
    const i = dashes[k] as number;
    if (valid(i)) return sdist(stem.slice(0, i), stem.slice(i + 1));
  }
  return null;
}

/**
 * Parses a wheel or sdist file name (already percent-decoded). Returns null for anything else
 * (`.egg`, `.exe`, `.msi`, `.rpm`, malformed names, versions that are not PEP 440).
 * `expectedProject`, when given, settles ambiguous sdist names (`foo-1.0-1.tar.gz` with project `foo`).
 */
export function parseDistributionFilename(
  filename: string,
  expectedProject?: string,
): ParsedDistribution | null {
  const lower = filename.toLowerCase();
  if (lower.endsWith(".whl")) return parseWheel(filename.slice(0, -".whl".length));
  const suffix = SDIST_SUFFIXES.find((s) => lower.endsWith(s));
  if (suffix === undefined) return null;
  return parseSdist(filename.slice(0, -suffix.length), expectedProject);
}
