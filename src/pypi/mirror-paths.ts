// Where upstream files live under a mirror's prefix. A file on the upstream's own host keeps
// its upstream path (`https://download.pytorch.org/whl/cu121/torch-…whl` is served at
// `/pytorch/whl/cu121/torch-…whl`); a file on another allowed host (download-r2.pytorch.org,
// files.pythonhosted.org) is served at `/<mirror>/+files/<host>/<path>`. Paths are stored as
// percent-decoded segments joined by "/", and every segment is checked so that no href or
// request can name anything outside the mirror.

export const CROSS_HOST_PREFIX = "+files";

/** Whether a decoded path segment is safe to store and to serve. */
export function isSafeSegment(segment: string): boolean {
  return (
    segment !== "" &&
    segment !== "." &&
    segment !== ".." &&
    !segment.includes("/") &&
    !segment.includes("\\") &&
    !segment.includes("\0") &&
    segment.length <= 255
  );
}

function decodeSegments(encodedPath: string): string[] | null {
  const segments: string[] = [];
  for (const raw of encodedPath.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (!isSafeSegment(decoded)) return null;
    segments.push(decoded);
  }
  return segments;
}

/**
 * The mirror path (decoded, "/"-joined, no leading slash) for an upstream file URL, or null when
 * the URL could escape the mirror (`..`, encoded slashes, NUL, empty segments).
 */
export function mirrorPathFor(upstreamBase: string, fileUrl: string): string | null {
  let base: URL;
  let file: URL;
  try {
    base = new URL(`${upstreamBase.replace(/\/+$/, "")}/`);
    file = new URL(fileUrl);
  } catch {
    return null;
  }
  // WHATWG URL parsing already resolved dot segments; a literal `..` left in the input is hostile.
  if (/(^|\/)\.\.?(\/|$)/.test(fileUrl.replace(/^[a-z]+:\/\/[^/]+/i, "").split(/[?#]/)[0] ?? "")) return null;
  if (/%2e%2e|%2f|%5c|%00/i.test(file.pathname)) return null;
  const pathname = file.pathname.replace(/^\/+/, "");
  if (file.origin === base.origin && file.pathname.startsWith(base.pathname)) {
    const relative = file.pathname.slice(base.pathname.length);
    const segments = decodeSegments(relative);
    return segments && segments.length > 0 ? segments.join("/") : null;
  }
  const segments = decodeSegments(pathname);
  if (!segments || segments.length === 0 || !isSafeSegment(file.host)) return null;
  return [CROSS_HOST_PREFIX, file.host, ...segments].join("/");
}

/**
 * Splits a request path (still percent-encoded, after the mirror prefix) into decoded segments,
 * or null when it is hostile: encoded slashes or backslashes, NUL, `.`/`..`, bad escapes.
 * A trailing slash yields a final empty segment, which callers use to tell pages from files.
 */
export function decodeRequestPath(encodedPath: string): string[] | null {
  if (/%2f|%5c|%00/i.test(encodedPath)) return null;
  const parts = encodedPath.split("/");
  const segments: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i] as string;
    const last = i === parts.length - 1;
    if (raw === "" && last) {
      segments.push("");
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (!isSafeSegment(decoded)) return null;
    segments.push(decoded);
  }
  return segments;
}

/** Percent-encodes a decoded mirror path for use in a URL (`+` becomes `%2B`, as upstream writes it). */
export function encodeMirrorPath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** A relative href from a page directory (decoded segments) to a mirror path. */
export function relativeHref(fromDirSegments: readonly string[], toPath: string): string {
  const target = toPath.split("/");
  let common = 0;
  while (
    common < fromDirSegments.length &&
    common < target.length - 1 &&
    fromDirSegments[common] === target[common]
  ) {
    common++;
  }
  const up = "../".repeat(fromDirSegments.length - common);
  return up + target.slice(common).map(encodeURIComponent).join("/");
}
