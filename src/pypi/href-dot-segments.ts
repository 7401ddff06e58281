// Dot segments in an href: PyPI-style pages legitimately climb out of the project directory with a
// leading `../../packages/…`, but `/whl/cu121/../../etc/x.whl` or `https://host/a/../b.whl` name
// one place and resolve to another. URL resolution silently removes them, so the parsers record
// the href as written and the sync refuses to follow it (DESIGN.md: "nothing else may be followed").
// https://url.spec.whatwg.org/#double-dot-path-segment

function isDotSegment(segment: string): boolean {
  const s = segment.toLowerCase().replaceAll("%2e", ".");
  return s === "." || s === "..";
}

/**
 * Whether an href has `.` or `..` path segments anywhere but in the leading run of a relative
 * reference. Percent-encoded dots and backslashes count, as WHATWG URL parsing treats them so.
 */
export function hasInnerDotSegments(href: string): boolean {
  let path = href.split(/[?#]/, 1)[0] ?? "";
  let relative = true;
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(path);
  if (scheme) {
    path = path.slice(scheme[0].length);
    relative = false;
  }
  if (/^[/\\]{2}/.test(path)) path = path.replace(/^[/\\]{2}[^/\\]*/, "");
  if (/^[/\\]/.test(path)) relative = false;
  let leading = relative;
  for (const segment of path.split(/[/\\]/)) {
    const dot = isDotSegment(segment);
    if (dot && !leading) return true;
    if (!dot) leading = false;
  }
  return false;
}
