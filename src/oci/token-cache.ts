// Caches registry bearer tokens per (realm, service, scope, account), as the token auth spec
// describes them: https://distribution.github.io/distribution/spec/auth/token/#token-response-fields
// `expires_in` defaults to 60 s; `issued_at` (RFC 3339) says when the lifetime started. A token
// is dropped a margin before it expires so that a request never leaves with a dying token, and
// concurrent requests for one key share one fetch (single flight), so a burst of layer pulls
// asks the token server once.
import { OciError } from "./registry-errors.js";

export interface TokenResponse {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
  issued_at?: unknown;
}

export interface TokenKey {
  realm: string;
  service?: string;
  /** Space-joined scopes, in the order asked. */
  scope: string;
  /** Who asked (a user name, or "" for anonymous): tokens of different accounts never mix. */
  account?: string;
}

export const DEFAULT_EXPIRES_IN_SECONDS = 60;

interface Entry {
  token: string;
  expiresAtMs: number;
}

export interface TokenCacheOptions {
  now?: () => number;
  /** Drop tokens this long before they expire (default 10 s, never more than half the lifetime). */
  refreshMarginMs?: number;
  /** Most tokens kept; the oldest are dropped past it (default 1000). */
  maxEntries?: number;
}

/** The token from a token-server response: `token`, or OAuth2's `access_token`. */
export function tokenFromResponse(body: TokenResponse): string | undefined {
  const token = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
  return typeof token === "string" && token !== "" ? token : undefined;
}

/**
 * When a token stops being usable, in ms since the epoch. The lifetime runs from `issued_at` when
 * that is before we asked (a server handing out a cached token), else from when we asked: a
 * token server's clock ahead of ours must not stretch the lifetime.
 */
export function tokenExpiry(body: TokenResponse, requestedAtMs: number): number {
  const expiresIn =
    typeof body.expires_in === "number" && Number.isFinite(body.expires_in) && body.expires_in > 0
      ? body.expires_in
      : DEFAULT_EXPIRES_IN_SECONDS;
  let startMs = requestedAtMs;
  if (typeof body.issued_at === "string") {
    const issued = Date.parse(body.issued_at);
    if (!Number.isNaN(issued) && issued < requestedAtMs) startMs = issued;
  }
  return startMs + expiresIn * 1000;
}

function keyString(key: TokenKey): string {
  return JSON.stringify([key.realm, key.service ?? "", key.scope, key.account ?? ""]);
}

export class TokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<string>>();
  readonly #now: () => number;
  readonly #marginMs: number;
  readonly #maxEntries: number;

  constructor(options: TokenCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#marginMs = options.refreshMarginMs ?? 10_000;
    this.#maxEntries = options.maxEntries ?? 1000;
  }

  /** A cached token still usable now, if any. */
  peek(key: TokenKey): string | undefined {
    const k = keyString(key);
    const entry = this.#entries.get(k);
    if (!entry) return undefined;
    if (this.#now() < entry.expiresAtMs) return entry.token;
    this.#entries.delete(k);
    return undefined;
  }

  /**
   * The cached token, or the one `fetchToken` brings; concurrent callers for one key share a
   * single fetch. A failed fetch is not cached: the next call tries again.
   */
  async get(key: TokenKey, fetchToken: () => Promise<TokenResponse>): Promise<string> {
    const cached = this.peek(key);
    if (cached !== undefined) return cached;
    const k = keyString(key);
    const pending = this.#pending.get(k);
    if (pending !== undefined) return pending;
    const requestedAtMs = this.#now();
    const promise = (async () => {
      const body = await fetchToken();
      const token = tokenFromResponse(body);
      if (token === undefined)
        throw new OciError("UNAUTHORIZED", `token server at ${key.realm} answered without a token`, {
          status: 502,
        });
      const expiresAtMs = tokenExpiry(body, requestedAtMs);
      const lifetime = expiresAtMs - requestedAtMs;
      const margin = Math.min(this.#marginMs, Math.max(0, lifetime / 2));
      this.#store(k, { token, expiresAtMs: expiresAtMs - margin });
      return token;
    })();
    this.#pending.set(k, promise);
    try {
      return await promise;
    } finally {
      this.#pending.delete(k);
    }
  }

  /** Forgets a token the registry refused, so the next request fetches a fresh one. */
  invalidate(key: TokenKey, token?: string): void {
    const k = keyString(key);
    if (token === undefined || this.#entries.get(k)?.token === token) this.#entries.delete(k);
  }

  get size(): number {
    return this.#entries.size;
  }

  #store(k: string, entry: Entry): void {
    this.#entries.delete(k);
    this.#entries.set(k, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}
