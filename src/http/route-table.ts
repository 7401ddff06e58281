// A small typed route table: `METHOD pattern → handler`, where a pattern is made of literal
// segments, `:name` (one whole segment) and a final `*rest` (the rest of the path, possibly
// empty). The generic server and each ecosystem register into one table, so `/v2/<name…>/
// manifests/<ref>` (OCI) fits beside `/<mirror>/*rest` (PyPI) without an if-chain.
// Matching is on the raw (still percent-encoded) path: handlers decode what they take, so an
// encoded "/" (%2F) never splits a segment. Literal routes win over params, params over tails,
// and among equals the first registered wins.

export type RouteParams = Readonly<Record<string, string>>;

export interface RouteMatch<H> {
  handler: H;
  params: RouteParams;
  /** The pattern that matched, as registered (for metrics and logs). */
  pattern: string;
}

type Segment =
  | { kind: "literal"; text: string }
  | { kind: "param"; name: string }
  | { kind: "rest"; name: string };

interface Route<H> {
  methods: ReadonlySet<string>;
  pattern: string;
  segments: readonly Segment[];
  handler: H;
  rank: number;
  order: number;
}

/** Thrown for a pattern the table cannot honour (a programming error, found at start-up). */
export class RoutePatternError extends Error {
  override name = "RoutePatternError";
}

function parsePattern(pattern: string): Segment[] {
  if (!pattern.startsWith("/")) throw new RoutePatternError(`route pattern must start with "/": ${pattern}`);
  const parts = pattern.slice(1).split("/");
  const seen = new Set<string>();
  return parts.map((part, i) => {
    if (part.startsWith(":") || part.startsWith("*")) {
      const name = part.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new RoutePatternError(`bad parameter "${part}" in ${pattern}`);
      if (seen.has(name)) throw new RoutePatternError(`parameter "${name}" twice in ${pattern}`);
      seen.add(name);
      if (part.startsWith("*")) {
        if (i !== parts.length - 1)
          throw new RoutePatternError(`"${part}" must be the last segment of ${pattern}`);
        return { kind: "rest", name };
      }
      return { kind: "param", name };
    }
    return { kind: "literal", text: part };
  });
}

/** Lower is more specific: every literal before any param, any param before a tail. */
function rankOf(segments: readonly Segment[]): number {
  let rank = 0;
  for (const [i, segment] of segments.entries()) {
    const weight = segment.kind === "literal" ? 0 : segment.kind === "param" ? 1 : 2;
    rank += weight * 3 ** (segments.length - i);
  }
  return rank;
}

function matchSegments(
  segments: readonly Segment[],
  parts: readonly string[],
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    if (segment.kind === "rest") {
      // The slash before the tail must be there ("/pytorch/" matches "/:mirror/*rest", "/pytorch" not).
      if (i >= parts.length) return undefined;
      params[segment.name] = parts.slice(i).join("/");
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.kind === "literal") {
      if (part !== segment.text) return undefined;
    } else {
      if (part === "") return undefined;
      params[segment.name] = part;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

export class RouteTable<H> {
  readonly #routes: Route<H>[] = [];

  /** Registers `handler` for `methods` (e.g. ["GET", "HEAD"], or "*" for any) on `pattern`. */
  add(methods: string | readonly string[], pattern: string, handler: H): this {
    const segments = parsePattern(pattern);
    const list = typeof methods === "string" ? [methods] : methods;
    this.#routes.push({
      methods: new Set(list.map((m) => m.toUpperCase())),
      pattern,
      segments,
      handler,
      rank: rankOf(segments),
      order: this.#routes.length,
    });
    this.#routes.sort((a, b) => a.rank - b.rank || a.order - b.order);
    return this;
  }

  /**
   * The route for `method` and `path` (no query string). `allowed` lists the methods the path
   * accepts when it matches a pattern but not for this method (for a 405 with `Allow`).
   */
  find(method: string, path: string): RouteMatch<H> | { allowed: string[] } | undefined {
    const parts = path.slice(1).split("/");
    const allowed = new Set<string>();
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (params === undefined) continue;
      if (!route.methods.has(method.toUpperCase()) && !route.methods.has("*")) {
        for (const m of route.methods) allowed.add(m);
        continue;
      }
      return { handler: route.handler, params, pattern: route.pattern };
    }
    return allowed.size > 0 ? { allowed: [...allowed] } : undefined;
  }
}
