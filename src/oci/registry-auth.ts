// Authentication against an upstream registry, after its 401 challenge:
// - Bearer: the token auth spec (https://distribution.github.io/distribution/spec/auth/token/):
//   GET <realm>?service=<service>&scope=<scope>, anonymous or with Basic credentials, answer
//   `{"token": ..., "expires_in": ...}`; tokens are cached per scope (token-cache.ts).
// - Basic (RFC 7617) when the registry asks for it and credentials are configured.
// Token requests go through the mirror's upstream client (its timeouts, breaker and request
// count), to the realm the registry named even when that is another host (`namedByUpstream`);
// Basic credentials go to the realm's origin only. A token server refusing (401/403) is an
// answer, not an upstream failure. Credentials and tokens never appear in an error message or a
// log line.

import { UpstreamNetworkError, UpstreamTimeoutError } from "../errors.js";
import type { StreamResponse, UpstreamClient } from "../upstream/http-client.js";
import { OciError } from "./registry-errors.js";
import { TokenCache, type TokenKey, type TokenResponse, tokenFromResponse } from "./token-cache.js";
import { findBearerChallenge, hasBasicChallenge, parseWwwAuthenticate } from "./www-authenticate.js";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryAuthOptions {
  registryUrl: URL;
  credentials?: RegistryCredentials;
  tokenCache?: TokenCache;
  /** The mirror's upstream client, with `hostPolicy: "follow-upstream"` for a realm on another host. */
  http: UpstreamClient;
}

const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const MAX_REMEMBERED_SCOPES = 10_000;

/** The default scope to pull a repository: https://distribution.github.io/distribution/spec/auth/scope/ */
export function pullScope(name: string): string {
  return `repository:${name}:pull`;
}

function basicHeader(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
}

/**
 * Whether a JWT's `access` claim grants pull on a repository: true, false, or undefined when the
 * token is not a JWT we can read. Only read to explain a refusal, never trusted for access decisions.
 */
export function tokenGrantsPull(token: string, name: string): boolean | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as {
      access?: unknown;
    };
    if (!Array.isArray(claims.access)) return undefined;
    return claims.access.some(
      (a: { type?: unknown; name?: unknown; actions?: unknown }) =>
        a?.type === "repository" && a.name === name && Array.isArray(a.actions) && a.actions.includes("pull"),
    );
  } catch {
    return undefined;
  }
}

export class RegistryAuth {
  readonly #options: RegistryAuthOptions;
  readonly #tokens: TokenCache;
  /** Token keys learned from challenges, per repository, to send a cached token without a 401 first. */
  readonly #keys = new Map<string, TokenKey>();
  #basic = false;

  constructor(options: RegistryAuthOptions) {
    this.#options = options;
    this.#tokens = options.tokenCache ?? new TokenCache();
  }

  /** The Authorization header to send up front for a repository, when one is already known. */
  cachedAuthorization(name: string): string | undefined {
    if (this.#basic && this.#options.credentials) return basicHeader(this.#options.credentials);
    const key = this.#keys.get(name);
    if (!key) return undefined;
    const token = this.#tokens.peek(key);
    return token === undefined ? undefined : `Bearer ${token}`;
  }

  /**
   * Answers a 401: returns the Authorization header to retry with. `sent` is the header the
   * refused request carried; a refused cached token is dropped first.
   */
  async authorize(
    name: string,
    wwwAuthenticate: string | string[] | undefined,
    sent: string | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = findBearerChallenge(challenges);
    if (bearer) {
      const key: TokenKey = {
        realm: bearer.realm,
        scope: bearer.scopes.length > 0 ? bearer.scopes.join(" ") : pullScope(name),
        account: this.#options.credentials?.username ?? "",
      };
      if (bearer.service !== undefined) key.service = bearer.service;
      if (sent?.startsWith("Bearer ")) this.#tokens.invalidate(key, sent.slice(7));
      if (this.#keys.size >= MAX_REMEMBERED_SCOPES) this.#keys.clear();
      this.#keys.set(name, key);
      const token = await this.#tokens.get(key, () => this.#fetchToken(key, signal));
      return `Bearer ${token}`;
    }
    if (hasBasicChallenge(challenges)) {
      if (!this.#options.credentials)
        throw new OciError(
          "UNAUTHORIZED",
          `${this.#options.registryUrl.host} requires credentials (Basic auth)`,
          {
            hint: "configure a username and password for this upstream",
          },
        );
      if (sent?.startsWith("Basic "))
        throw new OciError(
          "UNAUTHORIZED",
          `${this.#options.registryUrl.host} refused the configured credentials`,
          {
            hint: "check the username and password configured for this upstream",
          },
        );
      this.#basic = true;
      return basicHeader(this.#options.credentials);
    }
    throw new OciError(
      "UNAUTHORIZED",
      `${this.#options.registryUrl.host} answered 401 without a usable challenge`,
    );
  }

  /**
   * Explains a 401 that came back although we sent the token the token server gave. Docker Hub
   * answers so for a repository that does not exist: it grants the scope with no actions rather
   * than saying "not found", so a token that lacks pull for the name means NAME_UNKNOWN.
   */
  refusal(name: string, sent: string | undefined): OciError {
    if (sent?.startsWith("Bearer ") && tokenGrantsPull(sent.slice(7), name) === false)
      return new OciError(
        "NAME_UNKNOWN",
        `repository ${name} not found upstream at ${this.#options.registryUrl.host}`,
        {
          hint: this.#options.credentials
            ? "check the repository name, and that the configured account may pull it"
            : "check the repository name; a private repository needs credentials",
          detail: { name },
        },
      );
    if (sent?.startsWith("Basic "))
      return new OciError(
        "UNAUTHORIZED",
        `${this.#options.registryUrl.host} refused the configured credentials`,
        {
          hint: "check the username and password configured for this upstream",
          detail: { name },
        },
      );
    return new OciError("UNAUTHORIZED", `${this.#options.registryUrl.host} refused access to ${name}`, {
      detail: { name },
    });
  }

  async #fetchToken(key: TokenKey, signal?: AbortSignal): Promise<TokenResponse> {
    let realm: URL;
    try {
      realm = new URL(key.realm);
    } catch {
      throw new OciError("UNAUTHORIZED", "registry sent a token realm that is not a URL", { status: 502 });
    }
    if (realm.protocol !== "https:" && realm.protocol !== "http:")
      throw new OciError("UNAUTHORIZED", `token realm ${realm.protocol} is not http(s)`, { status: 502 });
    if (realm.username || realm.password) {
      realm.username = "";
      realm.password = "";
    }
    const credentials = this.#options.credentials;
    // Plain-http realms get credentials only when the registry itself was configured as http.
    if (credentials && realm.protocol === "http:" && this.#options.registryUrl.protocol !== "http:")
      throw new OciError(
        "UNAUTHORIZED",
        `refusing to send credentials to the plain-http token realm ${realm.host}`,
        {
          status: 502,
        },
      );
    if (key.service !== undefined) realm.searchParams.set("service", key.service);
    for (const scope of key.scope.split(" ")) if (scope) realm.searchParams.append("scope", scope);
    if (credentials) realm.searchParams.set("account", credentials.username);
    const where = `${realm.origin}${realm.pathname}`;
    const { timeoutMs } = this.#options.http.options;
    const deadline = AbortSignal.timeout(timeoutMs);
    const timedOut = () => new UpstreamTimeoutError(where, timeoutMs);
    const response: StreamResponse = await this.#options.http
      .send(
        "GET",
        realm.toString(),
        { accept: "application/json" },
        {
          pool: "page",
          namedByUpstream: true,
          authorization: credentials ? basicHeader(credentials) : null,
          signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
        },
      )
      .catch((error: unknown) => {
        throw deadline.aborted ? timedOut() : error;
      });
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of response.body) {
        length += (chunk as Buffer).length;
        if (length > MAX_TOKEN_RESPONSE_BYTES) {
          response.body.destroy();
          throw new OciError("UNAUTHORIZED", `token server ${where} sent an oversized answer`, {
            status: 502,
          });
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof OciError) throw error;
      if (deadline.aborted) throw timedOut();
      throw new UpstreamNetworkError(where, error);
    }
    const { status } = response;
    if (status === 401 || status === 403)
      throw new OciError(
        "UNAUTHORIZED",
        credentials
          ? `token server ${where} refused the configured credentials (HTTP ${status})`
          : `token server ${where} refused an anonymous token (HTTP ${status})`,
        {
          hint: credentials
            ? "check the username and password configured for this upstream"
            : "configure credentials",
        },
      );
    if (status === 429)
      throw new OciError("TOOMANYREQUESTS", `token server ${where} is rate limiting (HTTP 429)`);
    if (status !== 200)
      throw new OciError("UNAUTHORIZED", `token server ${where} answered HTTP ${status}`, { status: 502 });
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
      if (typeof body !== "object" || body === null) throw new Error("not an object");
      if (tokenFromResponse(body as TokenResponse) !== undefined) return body as TokenResponse;
    } catch {
      throw new OciError("UNAUTHORIZED", `token server ${where} answered with something that is not JSON`, {
        status: 502,
      });
    }
    throw new OciError("UNAUTHORIZED", `token server ${where} answered without a token`, { status: 502 });
  }
}
