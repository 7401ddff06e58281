// The one HTTP client for upstreams, every kind's (PyPI pages and files, OCI registries and their
// token servers and storage hosts): undici with keep-alive, a per-request timeout, retries with
// exponential backoff for pages, redirects followed only to allowed hosts (or, for a kind whose
// upstream names its own hosts, to any http(s) host), bounded body reads, and a per-host circuit
// breaker. Counts every request it sends (sync runs report it).
//
// Credentials: the configured Basic header goes to the upstream's origin only; a request may carry
// its own Authorization (a registry's Bearer token), sent to the origin of its URL only and
// dropped for good once a redirect leaves it (RFC 9110 section 15.4: a CDN must not see it).
// Redirects go to http(s) URLs only, whatever the policy.
//
// Timeouts end what they time out: a page read has a total deadline (headers and whole body) that
// aborts the underlying request through an AbortSignal, so its connection is closed and given
// back, and undici's idle timers (headersTimeout/bodyTimeout) abort stalled file downloads. Pages
// and files use separate connection pools, so pages stuck on a dripping upstream never take the
// connections file downloads need, and a burst of downloads never blocks index pages.
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, type Dispatcher, request } from "undici";
import {
  BodyTooLargeError,
  NotAllowedHostError,
  UpstreamCircuitOpenError,
  UpstreamNetworkError,
  UpstreamStatusError,
  UpstreamTimeoutError,
} from "../errors.js";
import { backoffDelay } from "./backoff.js";

export interface UpstreamClientOptions {
  /** Hosts (host[:port]) requests may go to, redirects included. */
  allowedHosts: readonly string[];
  timeoutMs: number;
  /** Extra attempts for page requests after the first. */
  retries: number;
  /** First backoff delay; doubled on each retry, with jitter. */
  backoffMs: number;
  maxFails: number;
  failTimeoutMs: number;
  /** Largest index page accepted. */
  maxPageBytes?: number;
  /**
   * Total time one page request may take, headers and whole body, redirects included (per
   * attempt). Default 6 × timeoutMs: a big index page over a slow link may take longer than
   * one idle timeout, a page dripping a byte at a time must not hang a sync forever.
   */
  pageDeadlineMs?: number;
  /** Connections per upstream origin for pages (and HEADs). Default 16. */
  pageConnections?: number;
  /** Connections per upstream origin for file downloads. Default 32. */
  fileConnections?: number;
  userAgent?: string;
  /**
   * Basic credentials for the upstream (RFC 7617): the header is sent to `origin` only, never to
   * another host a redirect or an `allow_hosts` file link points at.
   */
  authorization?: { origin: string; header: string } | undefined;
  /**
   * Which hosts requests may reach. "allowlist" (the default; PyPI): the URL of every request and
   * every redirect hop must be on an allowed host, so an index page cannot send the mirror
   * elsewhere. "follow-upstream" (OCI): requests start on an allowed host, but a redirect may lead
   * to any http(s) host, and so may a request marked `namedByUpstream` (the token realm a
   * registry names in WWW-Authenticate): registries send blob GETs to storage and CDN hosts nobody
   * can list in advance, as Docker Hub does, and distribution's proxy and docker follow them.
   */
  hostPolicy?: HostPolicy;
}

export type HostPolicy = "allowlist" | "follow-upstream";

/** How one request is sent (UpstreamClient.send). */
export interface SendOptions {
  /**
   * Aborts the request on the wire (its connection is closed), before or after the headers. A
   * caller's abort is not an upstream failure for the breaker, unless it is a deadline running
   * out (an AbortSignal.timeout reason); the abort's error is thrown as it is.
   */
  signal?: AbortSignal | undefined;
  /** The connection pool: "page" for pages, HEADs and other small answers; "file" (default). */
  pool?: RequestKind;
  /**
   * This request's own Authorization header, in place of the configured `authorization`: sent to
   * the origin of `url`, and to no host after a redirect leaves that origin. `null`: none.
   */
  authorization?: string | null;
  /**
   * The URL was named by the upstream (a token realm from WWW-Authenticate): under
   * `hostPolicy: "follow-upstream"` it may be on any http(s) host; under "allowlist" it is checked
   * like any other.
   */
  namedByUpstream?: boolean;
}

export interface PageResponse {
  status: number;
  /** Final URL after redirects. */
  url: string;
  /** The body as text; "" when the caller asked for `bytes`. */
  body: string;
  /**
   * The body as read, when asked for with `bytes: true`: a caller that parses elsewhere (the
   * page worker) skips decoding a page of tens of MB on the event loop.
   */
  bytes?: Buffer[];
  contentType: string | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export interface StreamResponse {
  status: number;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData["body"];
}

export interface Conditional {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

const MAX_REDIRECTS = 5;
const DEFAULT_MAX_PAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_PAGE_CONNECTIONS = 16;
const DEFAULT_FILE_CONNECTIONS = 32;

/** Which connection pool a request uses: index pages and HEADs, or file downloads. */
export type RequestKind = "page" | "file";

function isHttp(url: URL): boolean {
  return url.protocol === "http:" || url.protocol === "https:";
}

/** Whether an abort's reason is a deadline running out (AbortSignal.timeout) rather than a caller leaving. */
function isDeadline(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === "TimeoutError";
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export class UpstreamClient {
  readonly options: UpstreamClientOptions;
  readonly #dispatchers: Record<RequestKind, Dispatcher>;
  readonly #breakers = new Map<string, { fails: number; openUntil: number; last?: unknown }>();
  /** Requests sent (every attempt and redirect hop counts). */
  requestCount = 0;

  constructor(options: UpstreamClientOptions, dispatcher?: Dispatcher) {
    this.options = options;
    const agent = (connections: number) =>
      new Agent({
        connections,
        keepAliveTimeout: 10_000,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        connect: { timeout: options.timeoutMs },
      });
    this.#dispatchers = dispatcher
      ? { page: dispatcher, file: dispatcher }
      : {
          page: agent(options.pageConnections ?? DEFAULT_PAGE_CONNECTIONS),
          file: agent(options.fileConnections ?? DEFAULT_FILE_CONNECTIONS),
        };
  }

  /** The total deadline of one page request when the caller gives none. */
  get pageDeadlineMs(): number {
    return this.options.pageDeadlineMs ?? this.options.timeoutMs * 6;
  }

  isAllowed(url: string): boolean {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    return isHttp(parsed) && this.#onAllowedHost(parsed);
  }

  #onAllowedHost(url: URL): boolean {
    const { allowedHosts } = this.options;
    return allowedHosts.includes(url.host) || allowedHosts.includes(url.hostname);
  }

  /**
   * Refuses a URL this request may not reach: not http(s), or off the allowed hosts when they bind
   * it (`isAllowed`, which a subclass may widen).
   */
  #checkHost(where: string, url: URL, anyHost: boolean): void {
    if (!isHttp(url)) throw new NotAllowedHostError(where, "http(s) URLs only");
    if (!anyHost && !this.isAllowed(where)) throw new NotAllowedHostError(where, this.options.allowedHosts);
  }

  #checkBreaker(url: string): void {
    const host = new URL(url).host;
    const breaker = this.#breakers.get(host);
    if (breaker && breaker.openUntil > Date.now())
      throw new UpstreamCircuitOpenError(host, breaker.openUntil, breaker.last, url);
  }

  #recordOutcome(url: string, ok: boolean, failure?: unknown): void {
    const host = new URL(url).host;
    if (ok) {
      this.#breakers.delete(host);
      return;
    }
    const breaker = this.#breakers.get(host) ?? { fails: 0, openUntil: 0 };
    breaker.fails++;
    breaker.last = failure;
    if (breaker.fails >= this.options.maxFails) {
      breaker.openUntil = Date.now() + this.options.failTimeoutMs;
      breaker.fails = 0;
    }
    this.#breakers.set(host, breaker);
  }

  /** Whether the breaker for this URL's host is open now. */
  isCircuitOpen(url: string): boolean {
    const breaker = this.#breakers.get(new URL(url).host);
    return breaker !== undefined && breaker.openUntil > Date.now();
  }

  /**
   * One request, following redirects (within the allowlist, or anywhere http(s) under
   * "follow-upstream"). The caller owns the body of the returned response (read it or dump it).
   */
  async send(
    method: "GET" | "HEAD",
    url: string,
    headers: Record<string, string>,
    options: SendOptions = {},
  ): Promise<StreamResponse> {
    const { signal } = options;
    const followUpstream = this.options.hostPolicy === "follow-upstream";
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      throw new NotAllowedHostError(url, this.options.allowedHosts);
    }
    const own = options.authorization;
    // The configured credentials go to their origin on every hop; a request's own header goes to
    // its URL's origin until a redirect leaves it.
    let auth =
      own === undefined
        ? this.options.authorization
        : own === null
          ? undefined
          : { origin: current.origin, header: own };
    // The URL as given on the first hop (what callers see in `url` and errors), then as resolved.
    let where = url;
    for (let hop = 0; ; hop++) {
      this.#checkHost(where, current, followUpstream && (hop > 0 || options.namedByUpstream === true));
      this.#checkBreaker(where);
      const sameOrigin = auth !== undefined && current.origin === auth.origin;
      if (own !== undefined && !sameOrigin) auth = undefined;
      this.requestCount++;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(where, {
          method,
          headers: {
            "user-agent": this.options.userAgent ?? "freshmirror",
            ...headers,
            ...(sameOrigin && auth ? { authorization: auth.header } : {}),
          },
          dispatcher: this.#dispatchers[options.pool ?? "file"],
          signal,
        });
      } catch (error) {
        if (signal?.aborted) {
          // The caller gave up (a client left, a download was abandoned): the upstream did not
          // fail, unless what ran out was the caller's deadline for it.
          if (isDeadline(signal.reason)) this.#recordOutcome(where, false, error);
          throw error;
        }
        this.#recordOutcome(where, false, error);
        const code = (error as { code?: string }).code;
        if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
          throw new UpstreamTimeoutError(where, this.options.timeoutMs);
        }
        throw new UpstreamNetworkError(where, error);
      }
      const status = response.statusCode;
      // A 4xx (a 401 challenge, a 404) is an answer, not a failure: only 429 and 5xx count.
      this.#recordOutcome(
        where,
        !isRetryableStatus(status),
        isRetryableStatus(status) ? new UpstreamStatusError(where, status) : undefined,
      );
      const location = header(response.headers, "location");
      if (status >= 300 && status < 400 && status !== 304 && location) {
        await response.body.dump();
        if (hop >= MAX_REDIRECTS) throw new UpstreamStatusError(where, status);
        try {
          current = new URL(location, current);
        } catch {
          throw new UpstreamStatusError(where, status);
        }
        where = current.toString();
        continue;
      }
      return { status, url: where, headers: response.headers, body: response.body };
    }
  }

  /**
   * GETs an index page with Accept negotiation and optional conditional headers; retries network
   * errors and 5xx/429 with backoff. Answers 200 (body read, bounded), 304 or 404; other statuses
   * throw UpstreamStatusError.
   */
  async fetchPage(
    url: string,
    accept: string,
    conditional: Conditional = {},
    options: { retries?: number; bytes?: boolean; deadlineMs?: number } = {},
  ): Promise<PageResponse> {
    const retries = options.retries ?? this.options.retries;
    const deadlineMs = options.deadlineMs ?? this.pageDeadlineMs;
    const headers: Record<string, string> = { accept };
    if (conditional.etag) headers["if-none-match"] = conditional.etag;
    if (conditional.lastModified) headers["if-modified-since"] = conditional.lastModified;
    const limit = this.options.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
    for (let attempt = 0; ; attempt++) {
      // Per attempt: the timer aborts the request itself, so a page that drips forever ends here
      // and its connection goes back to the pool closed, not held by a reader nobody waits for.
      const deadline = AbortSignal.timeout(deadlineMs);
      try {
        const response = await this.send("GET", url, headers, { signal: deadline, pool: "page" }).catch(
          (error: unknown) => {
            throw deadline.aborted ? new UpstreamTimeoutError(url, deadlineMs) : error;
          },
        );
        const { status } = response;
        if (status === 200) {
          const chunks = await readBoundedChunks(
            response.body,
            limit,
            response.url,
            header(response.headers, "content-length"),
          ).catch((error: unknown) => {
            if (error instanceof BodyTooLargeError) throw error;
            if (deadline.aborted) throw new UpstreamTimeoutError(response.url, deadlineMs);
            // The connection broke mid-body (reset, idle bodyTimeout): a network error, retried.
            throw new UpstreamNetworkError(response.url, error);
          });
          return {
            status,
            url: response.url,
            body: options.bytes ? "" : Buffer.concat(chunks).toString("utf8"),
            ...(options.bytes ? { bytes: chunks } : {}),
            contentType: header(response.headers, "content-type"),
            etag: header(response.headers, "etag"),
            lastModified: header(response.headers, "last-modified"),
            headers: response.headers,
          };
        }
        await response.body.dump();
        if (status === 304 || status === 404 || status === 410) {
          return {
            status: status === 410 ? 404 : status,
            url: response.url,
            body: "",
            contentType: undefined,
            etag: header(response.headers, "etag"),
            lastModified: header(response.headers, "last-modified"),
            headers: response.headers,
          };
        }
        throw new UpstreamStatusError(response.url, status);
      } catch (error) {
        const retryable =
          error instanceof UpstreamNetworkError ||
          error instanceof UpstreamTimeoutError ||
          (error instanceof UpstreamStatusError && isRetryableStatus(error.upstreamStatus));
        if (!retryable || attempt >= retries) throw error;
        await sleep(backoffDelay(attempt, { baseMs: this.options.backoffMs }));
      }
    }
  }

  /** Size of a file from a HEAD request (for dry runs of indexes that give no sizes). */
  async headSize(url: string): Promise<number | undefined> {
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    const response = await this.send("HEAD", url, {}, { signal: deadline, pool: "page" }).catch(
      (error: unknown) => {
        throw deadline.aborted ? new UpstreamTimeoutError(url, this.options.timeoutMs) : error;
      },
    );
    await response.body.dump();
    if (response.status !== 200) return undefined;
    const length = Number(header(response.headers, "content-length"));
    return Number.isFinite(length) ? length : undefined;
  }

  async close(): Promise<void> {
    const { page, file } = this.#dispatchers;
    await Promise.all(page === file ? [page.close()] : [page.close(), file.close()]);
  }
}

/** Reads a body as UTF-8, rejecting early on Content-Length and while counting. */
export async function readBounded(
  body: Readable,
  limit: number,
  url: string,
  contentLength?: string | undefined,
): Promise<string> {
  return Buffer.concat(await readBoundedChunks(body, limit, url, contentLength)).toString("utf8");
}

/** Reads a body as its chunks, at most `limit` bytes in all. */
export async function readBoundedChunks(
  body: Readable,
  limit: number,
  url: string,
  contentLength?: string | undefined,
): Promise<Buffer[]> {
  if (contentLength !== undefined && Number(contentLength) > limit) {
    body.destroy();
    throw new BodyTooLargeError(url, limit);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      throw new BodyTooLargeError(url, limit);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks;
}
