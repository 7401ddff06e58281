// Parses WWW-Authenticate challenges (RFC 9110 section 11.6.1, formerly RFC 7235 section 4.1):
//   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//   auth-param = token BWS "=" BWS ( token / quoted-string )
// A header may hold several challenges separated by commas, which are also the separators of
// auth-params; a new challenge starts where a token is not followed by "=".
// Registries answer `Bearer realm="...",service="...",scope="..."` as the token auth spec says:
// https://distribution.github.io/distribution/spec/auth/token/

export interface Challenge {
  /** Lower-cased scheme: "bearer", "basic", ... */
  scheme: string;
  /** Parameters with lower-cased names; the first of a repeated name wins. */
  params: Record<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*/;

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? "";
  }

  skipSpace(): void {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }

  skipSpaceAndCommas(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === ",") this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** A quoted-string with quoted-pairs unescaped; undefined when it never closes. */
  quoted(): string | undefined {
    this.pos++; // opening quote
    let out = "";
    while (!this.done) {
      const c = this.peek();
      this.pos++;
      if (c === '"') return out;
      if (c === "\\") {
        if (this.done) return undefined;
        out += this.peek();
        this.pos++;
      } else out += c;
    }
    return undefined;
  }

  /** True when a token followed by optional space and "=" starts here (an auth-param, not a new scheme). */
  atParam(): boolean {
    const rest = this.text.slice(this.pos);
    const m = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*=/.exec(rest);
    if (!m) return false;
    // "abc==" is a token68, not a param: a param's "=" is followed by a value, not by another "=".
    return rest[m[0].length] !== "=";
  }
}

/**
 * Parses one or more WWW-Authenticate header values. Malformed input ends parsing: the challenges
 * read before it are returned, as browsers and docker do, rather than throwing on an upstream's header.
 */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== "string") return header.flatMap((h) => parseWwwAuthenticate(h));
  const cur = new Cursor(header.length > 16384 ? header.slice(0, 16384) : header);
  const challenges: Challenge[] = [];
  for (;;) {
    cur.skipSpaceAndCommas();
    if (cur.done) return challenges;
    const scheme = cur.token();
    if (scheme === "") return challenges;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    cur.skipSpace();
    const token68 = TOKEN68.exec(cur.text.slice(cur.pos));
    if (token68 && !cur.atParam()) {
      const after = cur.text.slice(cur.pos + token68[0].length).trimStart();
      if (after === "" || after.startsWith(",")) {
        challenge.token68 = token68[0];
        cur.pos += token68[0].length;
        continue;
      }
    }
    while (cur.atParam()) {
      const name = cur.token().toLowerCase();
      cur.skipSpace();
      cur.pos++; // "="
      cur.skipSpace();
      let value: string | undefined;
      if (cur.peek() === '"') value = cur.quoted();
      else value = cur.token();
      if (value === undefined) return challenges;
      if (!Object.hasOwn(challenge.params, name)) challenge.params[name] = value;
      cur.skipSpace();
      if (cur.peek() !== ",") break;
      cur.skipSpaceAndCommas();
    }
    if (!cur.done && cur.peek() !== "," && !TCHAR.test(cur.peek())) return challenges;
  }
}

export interface BearerChallenge {
  realm: string;
  service?: string;
  /** Scopes asked for, split on spaces (the spec allows several in one parameter). */
  scopes: string[];
  /** `error` parameter (RFC 6750), e.g. "insufficient_scope" or "invalid_token". */
  error?: string;
}

/** The first Bearer challenge with a realm, if any. */
export function findBearerChallenge(challenges: readonly Challenge[]): BearerChallenge | undefined {
  for (const c of challenges) {
    if (c.scheme !== "bearer" || !c.params.realm) continue;
    const out: BearerChallenge = {
      realm: c.params.realm,
      scopes: (c.params.scope ?? "").split(" ").filter((s) => s.length > 0),
    };
    if (c.params.service !== undefined) out.service = c.params.service;
    if (c.params.error !== undefined) out.error = c.params.error;
    return out;
  }
  return undefined;
}

export function hasBasicChallenge(challenges: readonly Challenge[]): boolean {
  return challenges.some((c) => c.scheme === "basic");
}
