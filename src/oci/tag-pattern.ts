// The tags `images:` asks a pre-sync for: an exact tag (`2.9.0-cuda12.8-cudnn9-runtime`) or a
// regular expression between slashes (`/^2\.9\.\d+-cuda12\.8-cudnn9-runtime$/`, flag `i`
// allowed). A regex is searched for in the tag, as JavaScript's RegExp#test does: anchor it with
// `^...$` to match whole tags. Tags are at most 128 characters (reference.ts), which bounds the
// work any pattern can do on one.
import { validateTag } from "./reference.js";

export type TagPattern =
  | { kind: "exact"; tag: string; source: string }
  | { kind: "regex"; regex: RegExp; source: string };

/** Parses one entry of an image's tag list; a string is returned as the problem when it is unusable. */
export function parseTagPattern(text: string): TagPattern | string {
  const regex = /^\/(.+)\/(i?)$/s.exec(text);
  if (regex) {
    try {
      return { kind: "regex", regex: new RegExp(regex[1] as string, regex[2]), source: text };
    } catch (error) {
      return `not a regular expression: ${(error as Error).message}`;
    }
  }
  const bad = validateTag(text);
  if (bad) return `${bad.message} (write /regex/ for a pattern)`;
  return { kind: "exact", tag: text, source: text };
}

/** Whether the patterns need upstream's tag list (only regexes do: exact tags are asked for by name). */
export function needsTagList(patterns: readonly TagPattern[]): boolean {
  return patterns.some((p) => p.kind === "regex");
}

/**
 * The tags to sync, in a stable order: every exact tag (asked for by name even when a tag list
 * does not show it: lists can be partial or late), then the listed tags a regex matches.
 */
export function selectTags(patterns: readonly TagPattern[], listed: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of patterns) if (p.kind === "exact") out.add(p.tag);
  const regexes = patterns.filter((p): p is Extract<TagPattern, { kind: "regex" }> => p.kind === "regex");
  if (regexes.length > 0) {
    for (const tag of [...listed].sort()) {
      if (validateTag(tag) !== undefined) continue;
      if (regexes.some((p) => p.regex.test(tag))) out.add(tag);
    }
  }
  return [...out];
}
