// The OCI `SubjectMatcher`: what hooks (`project:`, `versions:`) and the SSE `?project=` filter
// mean for an OCI mirror's events. An event's subject is `repository:tag`: `project` names the
// repository (Docker Hub's official images with or without `library/`: `alpine` is
// `library/alpine`), `versions` is a tag pattern as in `images:` (an exact tag or `/regex/`).
import type { SubjectMatcher } from "../events/subject-matcher.js";
import { parseTagPattern, type TagPattern } from "./tag-pattern.js";

const PARSED_LIMIT = 1000;
const parsed = new Map<string, TagPattern | string>();

function pattern(spec: string): TagPattern | string {
  let p = parsed.get(spec);
  if (p === undefined) {
    p = parseTagPattern(spec.trim());
    if (parsed.size >= PARSED_LIMIT) parsed.clear();
    parsed.set(spec, p);
  }
  return p;
}

/** `alpine` -> `library/alpine` (how Docker Hub names official images); names compare lower-case. */
export function normalizeRepositoryName(name: string): string {
  const text = name.trim().toLowerCase();
  return text.includes("/") || text === "" ? text : `library/${text}`;
}

/** Splits a `repository:tag` subject (the tag after the last colon that follows the last slash). */
export function splitSubject(subject: string): { repository: string; tag: string | undefined } {
  const colon = subject.lastIndexOf(":");
  if (colon > subject.lastIndexOf("/"))
    return { repository: subject.slice(0, colon), tag: subject.slice(colon + 1) };
  return { repository: subject, tag: undefined };
}

export const ociSubjectMatcher: SubjectMatcher = Object.freeze({
  normalizeName: normalizeRepositoryName,
  versionSpecProblem(spec: string): string | undefined {
    const p = pattern(spec);
    return typeof p === "string" ? p : undefined;
  },
  versionMatches(spec: string, tag: string): boolean {
    const p = pattern(spec);
    if (typeof p === "string") return false;
    return p.kind === "exact" ? p.tag === tag : p.regex.test(tag);
  },
});
