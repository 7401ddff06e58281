// Which index paths a mirror serves. An entry of `indexes` is a concrete path (`whl/cu121`), a
// pattern where a `*` segment stands for any one index segment (`whl/*`, `whl/nightly/*`), or
// `**` alone: any index path of 1 to MAX_INDEX_DEPTH segments (what a proxy mirror serves when
// `indexes` is omitted). Patterns only make sense on demand: a sync needs concrete indexes.

/** The pattern a proxy mirror gets when its config names no indexes. */
export const ANY_INDEX = "**";
/** How deep an index path from a client may be when only a pattern vouches for it. */
export const MAX_INDEX_DEPTH = 4;

/**
 * A segment a pattern may match: what index names look like upstream (`whl`, `cu121`,
 * `rocm6.4`, `nightly`, `cpu-cxx11-abi`). No `%`, `?`, `#`, dots alone, or leading punctuation,
 * so nothing a client sends through a pattern can change the shape of the upstream URL.
 */
const INDEX_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;

export function isIndexPattern(entry: string): boolean {
  return entry.includes("*");
}

/** Why an `indexes` entry (slashes at either end already trimmed) is not usable, or undefined. */
export function indexEntryProblem(entry: string): string | undefined {
  if (entry === ANY_INDEX) return undefined;
  for (const seg of entry.split("/")) {
    if (seg === "" || seg === "." || seg === ".." || /[?#%\\]/.test(seg)) return "bad segment";
    if (seg.includes("*") && seg !== "*") return `"*" must be a whole segment (as in "whl/*")`;
  }
  return undefined;
}

function matchesEntry(entry: string, segments: readonly string[]): boolean {
  if (entry === ANY_INDEX) {
    return (
      segments.length >= 1 &&
      segments.length <= MAX_INDEX_DEPTH &&
      segments.every((s) => INDEX_SEGMENT.test(s))
    );
  }
  const parts = entry.split("/");
  if (parts.length !== segments.length) return false;
  return parts.every((p, i) => {
    const seg = segments[i] as string;
    return p === "*" ? INDEX_SEGMENT.test(seg) : p === seg;
  });
}

/** Whether the decoded segments name an index this mirror serves. */
export function matchesIndex(entries: readonly string[], segments: readonly string[]): boolean {
  return segments.length > 0 && entries.some((entry) => matchesEntry(entry, segments));
}

/** Whether the segments are one of the concrete (pattern-free) entries. */
export function isConfiguredIndex(entries: readonly string[], segments: readonly string[]): boolean {
  const path = segments.join("/");
  return entries.some((entry) => !isIndexPattern(entry) && entry === path);
}
