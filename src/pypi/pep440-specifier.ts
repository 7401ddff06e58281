// PEP 440 version specifiers (`>=2.5,!=2.6.*`) and matching.
// https://packaging.python.org/en/latest/specifications/version-specifiers/#version-specifiers
// Where the spec leaves room (local labels, exclusive bounds) this follows pypa/packaging's `Specifier`
// (26.x). Pre-releases follow packaging before 25.0: excluded unless asked for or named by a specifier;
// packaging 25+ also admits one when nothing else is on offer, which a per-file check cannot know.

import {
  compareVersions,
  formatVersion,
  isPrerelease,
  parseVersion,
  publicVersion,
  type Version,
} from "./pep440-version.js";

export type SpecifierOperator = "~=" | "==" | "!=" | "<=" | ">=" | "<" | ">" | "===";

export interface Specifier {
  operator: SpecifierOperator;
  /** The version text as written, without the operator and surrounding whitespace (`2.*`, `2.5.1+cu121`). */
  version: string;
  /** The parsed version; for a prefix match (`==2.*`) the part before `.*`; absent only for `===`. */
  parsed?: Version;
  /** `==X.*` / `!=X.*`. */
  prefix: boolean;
}

export interface SpecifierSet {
  /** In the order written; an empty list matches every version (subject to the pre-release rule). */
  specifiers: Specifier[];
}

export interface MatchOptions {
  /**
   * `true` lets pre-releases (and dev releases) match. Otherwise they match only when some specifier
   * itself names a pre-release (`>=2.6.0rc1`), as packaging does when not told either way.
   */
  prereleases?: boolean;
}

// Longest operators first so `===` is not read as `==` followed by `=`.
const OPERATORS: SpecifierOperator[] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

function bad(part: string): Error {
  return new Error(`not a PEP 440 specifier: ${JSON.stringify(part)}`);
}

function parseSpecifier(text: string): Specifier {
  const operator = OPERATORS.find((op) => text.startsWith(op));
  if (operator === undefined) throw bad(text);
  const version = text.slice(operator.length).trim();
  if (version === "" || /[\s,;)]/.test(version)) throw bad(text);

  if (operator === "===") {
    // Arbitrary equality: any string, compared case-insensitively.
    const parsed = parseVersion(version);
    return parsed ? { operator, version, parsed, prefix: false } : { operator, version, prefix: false };
  }

  if ((operator === "==" || operator === "!=") && version.endsWith(".*")) {
    const parsed = parseVersion(version.slice(0, -2));
    // Only `[N!]release.*`: no pre/post/dev/local before the wildcard.
    if (!parsed || parsed.pre || parsed.post !== undefined || parsed.dev !== undefined || parsed.local) {
      throw bad(text);
    }
    return { operator, version, parsed, prefix: true };
  }

  const parsed = parseVersion(version);
  if (!parsed) throw bad(text);
  // Local labels only in `==` / `!=`; `~=` needs at least two release components.
  if (parsed.local && operator !== "==" && operator !== "!=") throw bad(text);
  if (operator === "~=" && parsed.release.length < 2) throw bad(text);
  return { operator, version, parsed, prefix: false };
}

/**
 * Parses a comma-separated specifier set. Empty parts are ignored, so `""` is the set that matches
 * everything. Throws an `Error` naming the offending part: `not a PEP 440 specifier: "=>2.5"`.
 */
export function parseSpecifierSet(s: string): SpecifierSet {
  const specifiers: Specifier[] = [];
  for (const raw of s.split(",")) {
    const part = raw.trim();
    if (part !== "") specifiers.push(parseSpecifier(part));
  }
  return { specifiers };
}

// `==X.Y.*`: same epoch, and the candidate's release (zero-padded) starts with X.Y. Whatever follows the
// release (pre, post, dev, local) is ignored.
function prefixMatches(candidate: Version, prefix: Version): boolean {
  if (candidate.epoch !== prefix.epoch) return false;
  return prefix.release.every((n, i) => (candidate.release[i] ?? 0) === n);
}

function equalMatches(candidate: Version, spec: Version): boolean {
  // A specifier without a local label ignores the candidate's (`==2.5.1` matches `2.5.1+cu121`).
  const c = spec.local ? candidate : publicVersion(candidate);
  return compareVersions(c, spec) === 0;
}

function specifierMatches(spec: Specifier, candidate: Version, candidateText: string | undefined): boolean {
  if (spec.operator === "===") {
    const text = candidateText ?? formatVersion(candidate);
    return text.trim().toLowerCase() === spec.version.toLowerCase();
  }
  const v = spec.parsed;
  if (v === undefined) return false; // only `===` may lack a parsed version
  switch (spec.operator) {
    case "==":
      return spec.prefix ? prefixMatches(candidate, v) : equalMatches(candidate, v);
    case "!=":
      return spec.prefix ? !prefixMatches(candidate, v) : !equalMatches(candidate, v);
    case "<=":
      return compareVersions(publicVersion(candidate), v) <= 0;
    case ">=":
      return compareVersions(publicVersion(candidate), v) >= 0;
    case "<": {
      if (compareVersions(candidate, v) >= 0) return false;
      // `<3.1` must not allow pre-releases of 3.1 (3.1.dev0 ... 3.1rc9) unless it names a pre-release.
      const earliestPre: Version = { ...publicVersion(v), dev: 0 };
      return isPrerelease(v) || !isPrerelease(candidate) || compareVersions(candidate, earliestPre) < 0;
    }
    case ">": {
      if (compareVersions(candidate, v) <= 0) return false;
      // `>3.1` must not allow post-releases of 3.1 unless it names a post-release ...
      if (v.post === undefined && candidate.post !== undefined) {
        const { post: _post, dev: _dev, local: _local, ...postBase } = candidate;
        if (compareVersions(postBase, v) === 0) return false;
      }
      // ... nor local versions of 3.1 (3.1+cpu sorts above 3.1).
      return !(candidate.local && compareVersions(publicVersion(candidate), v) === 0);
    }
    case "~=": {
      // `~=2.2.post3` means `>=2.2.post3, ==2.*`.
      if (compareVersions(publicVersion(candidate), v) < 0) return false;
      return prefixMatches(candidate, { epoch: v.epoch, release: v.release.slice(0, -1) });
    }
  }
}

/** Whether some specifier names a pre-release on an inclusive or ordering operator (not `!=`). */
function namesPrerelease(set: SpecifierSet): boolean {
  return set.specifiers.some((s) => s.operator !== "!=" && s.parsed !== undefined && isPrerelease(s.parsed));
}

/**
 * Whether `version` satisfies every specifier of `set`. A string that is not a PEP 440 version matches
 * only `===` specifiers with the same text.
 */
export function matchesSpecifierSet(
  set: SpecifierSet,
  version: Version | string,
  options: MatchOptions = {},
): boolean {
  const text = typeof version === "string" ? version : undefined;
  const parsed = typeof version === "string" ? parseVersion(version) : version;
  if (parsed === null) {
    const t = (text ?? "").trim().toLowerCase();
    return (
      set.specifiers.length > 0 &&
      set.specifiers.every((s) => s.operator === "===" && s.version.toLowerCase() === t)
    );
  }
  if (isPrerelease(parsed) && options.prereleases !== true && !namesPrerelease(set)) return false;
  return set.specifiers.every((s) => specifierMatches(s, parsed, text));
}
