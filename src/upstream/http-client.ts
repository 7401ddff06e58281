// The one HTTP client for upstreams: undici with keep-alive, a per-request timeout, retries with
// exponential backoff for pages, redirects followed only to allowed hosts, bounded body reads,
// and a per-host circuit breaker. Counts every request it sends (sync runs report it).
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
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return false;
    return (
      this.options.allowedHosts.includes(parsed.host) || this.options.allowedHosts.includes(parsed.hostname)
    );
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
   * One request, following redirects within the allowlist. The caller owns the body of the
   * returned response (read it or dump it). Aborting `signal` aborts the request on the wire
   * (its connection is closed), before or after the headers; `kind` picks the connection pool.
   */
  async send(
    method: "GET" | "HEAD",
    url: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    kind: RequestKind = "file",
  ): Promise<StreamResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      if (!this.isAllowed(current)) throw new NotAllowedHostError(current, this.options.allowedHosts);
      this.#checkBreaker(current);
      this.requestCount++;
      const auth = this.options.authorization;
      const sameOrigin = auth !== undefined && new URL(current).origin === auth.origin;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(current, {
          method,
          headers: {
            "user-agent": this.options.userAgent ?? "freshmirror",
            ...headers,
            ...(sameOrigin ? { authorization: auth.header } : {}),
          },
          dispatcher: this.#dispatchers[kind],
          signal,
        });
      } catch (error) {
        this.#recordOutcome(current, false, error);
        const code = (error as { code?: string }).code;
        if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
          throw new UpstreamTimeoutError(current, this.options.timeoutMs);
        }
        throw new UpstreamNetworkError(current, error);
      }
      const status = response.statusCode;
      this.#recordOutcome(
        current,
        !isRetryableStatus(status),
        isRetryableStatus(status) ? new UpstreamStatusError(current, status) : undefined,
      );
      const location = header(response.headers, "location");
      if (status >= 300 && status < 400 && status !== 304 && location) {
        await response.body.dump();
        if (hop >= MAX_REDIRECTS) throw new UpstreamStatusError(current, status);
        current = new URL(location, current).toString();
        continue;
      }
      return { status, url: current, headers: response.headers, body: response.body };
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
        const response = await this.send("GET", url, headers, deadline, "page").catch((error: unknown) => {
          throw deadline.aborted ? new UpstreamTimeoutError(url, deadlineMs) : error;
        });
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
    const response = await this.send("HEAD", url, {}, AbortSignal.timeout(this.options.timeoutMs), "page");
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
