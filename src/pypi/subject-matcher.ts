// The PyPI `SubjectMatcher`: what hooks (`project:`, `versions:`) and the SSE `?project=` filter
// mean for a PyPI mirror's events. Names compare PEP 503-normalized
// (https://peps.python.org/pep-0503/#normalized-names); a `versions` filter is a PEP 440 specifier
// set (https://packaging.python.org/en/latest/specifications/version-specifiers/).
import type { SubjectMatcher } from "../events/subject-matcher.js";
import { matchesSpecifierSet, parseSpecifierSet, type SpecifierSet } from "./pep440-specifier.js";
import { parseVersion } from "./pep440-version.js";
import { normalizeProjectName } from "./project-page.js";

// Specifiers come from the config (a handful), but a hook is matched on every event: parse each once.
const PARSED_LIMIT = 1000;
const parsed = new Map<string, SpecifierSet>();

function specifierSet(spec: string): SpecifierSet {
  let set = parsed.get(spec);
  if (set === undefined) {
    set = parseSpecifierSet(spec);
    if (parsed.size >= PARSED_LIMIT) parsed.clear();
    parsed.set(spec, set);
  }
  return set;
}

/**
 * Whether `version` is within the PEP 440 specifier set `spec`. A version that is not PEP 440 (an
 * image tag such as `2.9.0-cuda12.8-cudnn9-runtime`) is compared by its leading version (2.9.0),
 * and otherwise matches only `===` with the same text. An invalid `spec` matches nothing.
 */
export function pep440VersionMatches(spec: string, version: string): boolean {
  let set: SpecifierSet;
  try {
    set = specifierSet(spec);
  } catch {
    return false;
  }
  if (parseVersion(version) !== null) return matchesSpecifierSet(set, version);
  const leading = /^v?\d+(?:\.\d+)*/.exec(version.trim())?.[0];
  if (leading !== undefined && parseVersion(leading) !== null && matchesSpecifierSet(set, leading))
    return true;
  return matchesSpecifierSet(set, version);
}

export const pypiSubjectMatcher: SubjectMatcher = Object.freeze({
  normalizeName: normalizeProjectName,
  versionSpecProblem(spec: string): string | undefined {
    try {
      specifierSet(spec);
      return undefined;
    } catch (error) {
      // `not a PEP 440 specifier: "=>2.5"`, naming the offending part.
      return (error as Error).message;
    }
  },
  versionMatches: pep440VersionMatches,
});
