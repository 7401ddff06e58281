// How an ecosystem names and versions what its events are about. Hooks (`project:`, `versions:`)
// and the SSE stream (`?project=`) compare names and versions through the matcher of the event's
// mirror, so this folder knows no ecosystem: PyPI hands over PEP 503 names and PEP 440 specifiers
// (src/pypi/subject-matcher.ts), a later kind its own rules.

export interface SubjectMatcher {
  /** Canonical form of a project/repository name, for comparing names. */
  normalizeName(name: string): string;
  /** A problem with `spec` as a version filter (a message), or undefined when it is valid. */
  versionSpecProblem(spec: string): string | undefined;
  /** Whether `version` is within `spec` (spec already checked). */
  versionMatches(spec: string, version: string): boolean;
}

/**
 * The fallback for mirrors of a kind with no version semantics: names compare exactly, and a
 * `versions` filter is one exact version (surrounding spaces aside).
 */
export const literalMatcher: SubjectMatcher = Object.freeze({
  normalizeName: (name: string) => name,
  versionSpecProblem: (spec: string) =>
    spec.trim() === "" ? "an empty version filter (give the exact version to match)" : undefined,
  versionMatches: (spec: string, version: string) => spec.trim() === version,
});
