// How events name what they are about (a project, a repository) differs per ecosystem: PyPI
// compares PEP 503 normalized names and PEP 440 versions, OCI compares repository names and tags.
// Hooks and the SSE stream filter through this interface and never learn which one it is.

export interface SubjectMatcher {
  /** Canonical form of a project/repository name, for comparing names. */
  normalizeName(name: string): string;
  /** A problem with `spec` as a version filter (a message), or undefined when it is valid. */
  versionSpecProblem(spec: string): string | undefined;
  /** Whether `version` is within `spec` (spec already checked). */
  versionMatches(spec: string, version: string): boolean;
}
