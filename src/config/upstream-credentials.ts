// Upstream credentials: from `username_env`/`password_env` (names of environment variables, read
// at config load) or from `user:password@` in `upstream`, which is split off so the resolved
// `upstream` is credential-free everywhere it is shown. The password lives in a private field:
// JSON (`freshmirror config check`) and util.inspect print "***".
// https://www.rfc-editor.org/rfc/rfc7617 (the Basic scheme)

export class UpstreamCredentials {
  readonly username: string;
  /** scheme://host[:port] the credentials are sent to, and nowhere else. */
  readonly origin: string;
  readonly #password: string;

  constructor(username: string, password: string, origin: string) {
    this.username = username;
    this.#password = password;
    this.origin = origin;
  }

  /** The `Authorization` header value. */
  basicHeader(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#password}`, "utf8").toString("base64")}`;
  }

  /**
   * The password, for protocols that send it in their own way (a registry's token realm gets it as
   * Basic credentials); never put it in a message or a log line.
   */
  password(): string {
    return this.#password;
  }

  toJSON(): { username: string; password: string; origin: string } {
    return { username: this.username, password: "***", origin: this.origin };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `UpstreamCredentials { username: ${JSON.stringify(this.username)}, password: '***', origin: ${JSON.stringify(this.origin)} }`;
  }
}

export interface SplitUpstream {
  /** The URL without userinfo. */
  url: string;
  /** Percent-decoded user and password from the URL, if it had any. */
  userinfo: { username: string; password: string } | undefined;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Splits `https://user:pass@host/path` into the URL without userinfo and the credentials. */
export function splitUpstreamUrl(upstream: string): SplitUpstream {
  const url = new URL(upstream);
  if (url.username === "" && url.password === "") return { url: upstream, userinfo: undefined };
  const userinfo = { username: decode(url.username), password: decode(url.password) };
  url.username = "";
  url.password = "";
  return { url: url.toString().replace(/\/+$/, ""), userinfo };
}
