// Error classes with stable codes. Every code is listed in docs/errors.md; a test keeps the
// two in step. Messages name what was wrong (a URL, a file, a field) and never carry
// credentials: the base class masks every URL in its message (redactText), and errors that keep
// a URL keep it masked, so no page, log or API answer built from an error can leak one.
import { redactText, redactUrl } from "./upstream/redact-url.js";

/**
 * Every error code freshmirror reports, defined here once, with the HTTP status it is answered
 * with (`null`: not an HTTP answer — a CLI exit or a failed run — and 500 should one reach a
 * client). docs/errors.md lists each with what it means and what to do; src/errors.test.ts keeps
 * the two in step. Codes follow `FM_ERR_<AREA>_<WHAT>`.
 */
export const ERROR_CODES = {
  FM_ERR_API_AUTH: { status: [401, 403] },
  FM_ERR_CLI_USAGE: { status: 400 },
  FM_ERR_CONFIG_INVALID: { status: null },
  FM_ERR_DIGEST_MISMATCH: { status: 502 },
  FM_ERR_FETCH_ABANDONED: { status: 502 },
  FM_ERR_FETCH_RESTARTED: { status: 502 },
  FM_ERR_FETCH_SIZE_LIMIT: { status: 502 },
  FM_ERR_FETCH_TIMEOUT: { status: 504 },
  FM_ERR_FETCH_TOO_LARGE: { status: 502 },
  FM_ERR_FETCH_TRUNCATED: { status: 502 },
  FM_ERR_HTTP_BAD_PATH: { status: 400 },
  FM_ERR_HTTP_BAD_REQUEST: { status: 400 },
  FM_ERR_HTTP_BUSY: { status: 503 },
  FM_ERR_HTTP_METHOD_NOT_ALLOWED: { status: 405 },
  FM_ERR_HTTP_NOT_A_PROJECT_NAME: { status: 404 },
  FM_ERR_HTTP_NOT_FOUND: { status: 404 },
  FM_ERR_INTERNAL: { status: 500 },
  FM_ERR_MIRROR_UNKNOWN: { status: 404 },
  // The OCI distribution spec's error codes, one each (src/oci/registry-errors.ts; statuses as
  // CNCF distribution answers them). https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
  FM_ERR_OCI_BLOB_UNKNOWN: { status: 404 },
  FM_ERR_OCI_BLOB_UPLOAD_INVALID: { status: 400 },
  FM_ERR_OCI_BLOB_UPLOAD_UNKNOWN: { status: 404 },
  FM_ERR_OCI_DENIED: { status: 403 },
  FM_ERR_OCI_DIGEST_INVALID: { status: 400 },
  FM_ERR_OCI_MANIFEST_BLOB_UNKNOWN: { status: 404 },
  FM_ERR_OCI_MANIFEST_INVALID: { status: 400 },
  FM_ERR_OCI_MANIFEST_UNKNOWN: { status: 404 },
  FM_ERR_OCI_NAME_INVALID: { status: 400 },
  FM_ERR_OCI_NAME_UNKNOWN: { status: 404 },
  FM_ERR_OCI_RANGE_INVALID: { status: 416 },
  FM_ERR_OCI_SIZE_INVALID: { status: 400 },
  FM_ERR_OCI_TAG_INVALID: { status: 400 },
  FM_ERR_OCI_TOOMANYREQUESTS: { status: 429 },
  FM_ERR_OCI_UNAUTHORIZED: { status: 401 },
  FM_ERR_OCI_UNSUPPORTED: { status: 405 },
  FM_ERR_SIZE_MISMATCH: { status: 502 },
  FM_ERR_STORE_BLOB_MISSING: { status: 500 },
  FM_ERR_STORE_FULL: { status: 507 },
  FM_ERR_STORE_NOT_WRITABLE: { status: null },
  FM_ERR_STORE_WRITE: { status: 500 },
  FM_ERR_SYNC_BLOB_GONE: { status: null },
  FM_ERR_SYNC_FAILED: { status: null },
  FM_ERR_SYNC_INTERNAL: { status: null },
  FM_ERR_SYNC_LOCKED: { status: 409 },
  FM_ERR_SYNC_REFUSED: { status: 409 },
  FM_ERR_UPSTREAM_BODY_TOO_LARGE: { status: 502 },
  FM_ERR_UPSTREAM_CIRCUIT_OPEN: { status: 502 },
  FM_ERR_UPSTREAM_HOST_NOT_ALLOWED: { status: 502 },
  FM_ERR_UPSTREAM_MALFORMED_PAGE: { status: 502 },
  FM_ERR_UPSTREAM_NETWORK: { status: 502 },
  FM_ERR_UPSTREAM_PAGE_TOO_MANY_LINKS: { status: 502 },
  FM_ERR_UPSTREAM_STATUS: { status: 502 },
  FM_ERR_UPSTREAM_TIMEOUT: { status: 504 },
  FM_ERR_WHEEL_INVALID: { status: 502 },
  FM_ERR_WHEEL_METADATA: { status: 502 },
} as const satisfies Record<`FM_ERR_${string}`, { status: number | readonly number[] | null }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether `value` is one of the codes above (e.g. a code that crossed a worker boundary). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/** The status an error with `code` is answered with unless its constructor names one of its list. */
export function defaultStatus(code: ErrorCode): number {
  const { status } = ERROR_CODES[code];
  if (status === null) return 500;
  return typeof status === "number" ? status : (status[0] as number);
}

/** The code to report for any thrown value: ours, or FM_ERR_INTERNAL for anything else. */
export function errorCodeOf(error: unknown): ErrorCode {
  return error instanceof FreshmirrorError ? error.code : "FM_ERR_INTERNAL";
}

export interface FreshmirrorErrorOptions {
  /** HTTP status to answer with when this error reaches a client. */
  status?: number;
  /** Something the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class FreshmirrorError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: FreshmirrorErrorOptions = {}) {
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? defaultStatus(code);
    this.hint = options.hint === undefined ? undefined : redactText(options.hint);
  }
}

/** Something that should not happen did (a worker thread died, a broken invariant): a 500. */
export class InternalError extends FreshmirrorError {
  constructor(message: string, cause?: unknown) {
    super("FM_ERR_INTERNAL", message, { cause });
  }
}

export class ConfigError extends FreshmirrorError {
  /** Every problem found, each `path: what was wrong`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], source: string) {
    super("FM_ERR_CONFIG_INVALID", `invalid config (${source}):\n  ${problems.join("\n  ")}`, {
      hint: "fix the fields named above; `freshmirror config check` prints the resolved config",
    });
    this.problems = problems;
  }
}

export class UsageError extends FreshmirrorError {
  constructor(message: string) {
    super("FM_ERR_CLI_USAGE", message, { hint: "see `freshmirror --help`" });
  }
}

export class UpstreamStatusError extends FreshmirrorError {
  readonly url: string;
  readonly upstreamStatus: number;

  constructor(url: string, upstreamStatus: number) {
    super("FM_ERR_UPSTREAM_STATUS", `upstream answered HTTP ${upstreamStatus} for ${url}`);
    this.url = redactUrl(url);
    this.upstreamStatus = upstreamStatus;
  }
}

export class UpstreamNetworkError extends FreshmirrorError {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super("FM_ERR_UPSTREAM_NETWORK", `could not reach upstream for ${url}: ${why}`, { cause });
    this.url = redactUrl(url);
  }
}

export class UpstreamTimeoutError extends FreshmirrorError {
  readonly url: string;

  constructor(url: string, timeoutMs: number) {
    super("FM_ERR_UPSTREAM_TIMEOUT", `upstream did not answer within ${timeoutMs} ms for ${url}`);
    this.url = redactUrl(url);
  }
}

export class UpstreamCircuitOpenError extends FreshmirrorError {
  /** The request refused (redacted), if known. */
  readonly url: string | undefined;
  /** When the circuit lets requests through again (epoch ms): a client may be told to retry then. */
  readonly untilMs: number;

  /** `lastFailure` opened the circuit: what an operator needs to know first. */
  constructor(host: string, untilMs: number, lastFailure?: unknown, url?: string) {
    const why =
      lastFailure === undefined
        ? ""
        : `: ${lastFailure instanceof Error ? lastFailure.message : String(lastFailure)}`;
    super(
      "FM_ERR_UPSTREAM_CIRCUIT_OPEN",
      `upstream ${host} failed repeatedly${why}; not retried until ${new Date(untilMs).toISOString()}`,
      { cause: lastFailure },
    );
    this.url = url === undefined ? undefined : redactUrl(url);
    this.untilMs = untilMs;
  }
}

export class NotAllowedHostError extends FreshmirrorError {
  /** `allowed`: the mirror's allowlist, or "http(s) URLs only" for a URL of another scheme. */
  constructor(url: string, allowed: readonly string[] | "http(s) URLs only") {
    const badScheme = typeof allowed === "string";
    super(
      "FM_ERR_UPSTREAM_HOST_NOT_ALLOWED",
      badScheme
        ? `refusing to fetch ${url}: only http(s) URLs are fetched`
        : `refusing to fetch ${url}: host not in this mirror's allowlist (${allowed.join(", ")})`,
      badScheme ? {} : { hint: "add the host to the mirror's allow_hosts if it is trusted" },
    );
  }
}

export class MalformedPageError extends FreshmirrorError {
  readonly url: string;

  constructor(url: string, what: string) {
    super("FM_ERR_UPSTREAM_MALFORMED_PAGE", `malformed index page at ${url}: ${what}`);
    this.url = redactUrl(url);
  }
}

export class BodyTooLargeError extends FreshmirrorError {
  constructor(url: string, limit: number) {
    super(
      "FM_ERR_UPSTREAM_BODY_TOO_LARGE",
      `response from ${url} is larger than the limit of ${limit} bytes`,
    );
  }
}

export class DigestMismatchError extends FreshmirrorError {
  readonly filename: string;
  readonly expected: string;
  readonly actual: string;

  constructor(filename: string, expected: string, actual: string, url?: string, algorithm = "sha256") {
    super(
      "FM_ERR_DIGEST_MISMATCH",
      `${algorithm} mismatch for ${filename}${url ? ` (${url})` : ""}: index says ${expected}, downloaded bytes hash to ${actual}`,
      { hint: "the upstream file or its index is corrupt; the file was not stored" },
    );
    this.filename = filename;
    this.expected = expected;
    this.actual = actual;
  }
}

export class SizeMismatchError extends FreshmirrorError {
  constructor(filename: string, expected: number, actual: number, url?: string) {
    super(
      "FM_ERR_SIZE_MISMATCH",
      `size mismatch for ${filename}${url ? ` (${url})` : ""}: expected ${expected} bytes, got ${actual}`,
    );
  }
}

/** More bytes arrived than the file's declared size (index `size` or Content-Length). */
export class FetchTooLargeError extends FreshmirrorError {
  constructor(filename: string, url: string, declared: number, received: number, declaredBy: string) {
    super(
      "FM_ERR_FETCH_TOO_LARGE",
      `download of ${filename} (${url}) stopped: received ${received} bytes, more than the ${declared} bytes ${declaredBy} declared`,
      { hint: "the upstream file or its index is wrong; nothing was stored" },
    );
  }
}

/** A file over the mirror's `max_file_size`: refused when declared larger, stopped when it grows past. */
export class FileSizeLimitError extends FreshmirrorError {
  constructor(filename: string, url: string, limit: number, size: number, declared: boolean) {
    super(
      "FM_ERR_FETCH_SIZE_LIMIT",
      declared
        ? `refusing to download ${filename} (${url}): it is ${size} bytes, over max_file_size (${limit} bytes)`
        : `download of ${filename} (${url}) stopped at ${size} bytes: over max_file_size (${limit} bytes)`,
      { hint: "raise the mirror's max_file_size if files this large are expected" },
    );
  }
}

/** A transfer had to start over (a resume stitched different bytes, upstream ignored Range). */
export class FetchRestartedError extends FreshmirrorError {
  constructor(filename: string, reason: string) {
    super("FM_ERR_FETCH_RESTARTED", `${filename}: ${reason}`);
  }
}

/** One download took longer than `fill_timeout`: not retried. */
export class FetchTimeoutError extends FreshmirrorError {
  constructor(filename: string) {
    super("FM_ERR_FETCH_TIMEOUT", `download of ${filename} exceeded fill_timeout`, {
      hint: "raise fill_timeout for very large files on slow links",
    });
  }
}

/** Upstream closed a transfer before its Content-Length; retried and resumed until the last attempt. */
export class FetchTruncatedError extends FreshmirrorError {
  constructor(message: string, cause?: unknown) {
    super("FM_ERR_FETCH_TRUNCATED", message, { cause });
  }
}

/** Every client of an on-demand download left and none came back within `abandon_grace`. */
export class FetchAbandonedError extends FreshmirrorError {
  constructor(filename: string, graceMs: number) {
    super(
      "FM_ERR_FETCH_ABANDONED",
      `download of ${filename} abandoned: no client was waiting for it for ${graceMs} ms (abandon_grace)`,
      { hint: "request the file again to restart it" },
    );
  }
}

/** More file responses at once than `max_file_responses`. */
export class TooManyFileResponsesError extends FreshmirrorError {
  readonly retryAfterSeconds: number;

  constructor(limit: number, retryAfterSeconds: number) {
    super(
      "FM_ERR_HTTP_BUSY",
      `too many file downloads in progress (max_file_responses is ${limit}); retry in ${retryAfterSeconds} s`,
      { hint: "retry later; the operator can raise max_file_responses" },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class SyncLockedError extends FreshmirrorError {
  constructor(mirror: string, holder: string) {
    super("FM_ERR_SYNC_LOCKED", `a sync of mirror "${mirror}" is already running (${holder})`, {
      hint: "wait for it to finish; a lock left by a killed process is taken over automatically",
    });
  }
}

export class UnknownMirrorError extends FreshmirrorError {
  constructor(mirror: string, known: readonly string[]) {
    super(
      "FM_ERR_MIRROR_UNKNOWN",
      `no mirror named "${mirror}" (configured: ${known.length ? known.join(", ") : "none"})`,
    );
  }
}

/** errno and SQLite codes that mean the file system holding data_dir is full. */
const DISK_FULL = new Set(["ENOSPC", "EDQUOT", "EFBIG", "SQLITE_FULL"]);

export function isDiskFull(error: unknown): boolean {
  let e: unknown = error;
  // A few levels of `cause` at most (a cycle must not hang this).
  for (let depth = 0; depth < 8 && e instanceof Error; depth++, e = e.cause) {
    if (DISK_FULL.has(String((e as NodeJS.ErrnoException).code))) return true;
  }
  return false;
}

export class StoreWriteError extends FreshmirrorError {
  constructor(path: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    // A full disk is its own code and a 507 (RFC 4918 11.5): what is stored keeps being served.
    const full = isDiskFull(cause);
    super(full ? "FM_ERR_STORE_FULL" : "FM_ERR_STORE_WRITE", `could not write ${path}: ${why}`, {
      cause,
      status: full ? 507 : 500,
      hint: full
        ? "data_dir's file system is full: check free space (df), lower max_cache_size, or run gc; what is already stored is still served"
        : "check free space and permissions of data_dir",
    });
  }
}

export class StoreNotWritableError extends FreshmirrorError {
  constructor(dataDir: string, why: string, hint: string, cause?: unknown) {
    super("FM_ERR_STORE_NOT_WRITABLE", `data_dir ${dataDir} is not usable: ${why}`, {
      hint,
      cause,
    });
  }
}

export class WheelMetadataError extends FreshmirrorError {
  constructor(label: string, what: string) {
    super("FM_ERR_WHEEL_METADATA", `cannot read core metadata from wheel ${label}: ${what}`, {
      hint: "no .metadata file is served for this wheel; the wheel itself is unaffected",
    });
  }
}

export class WheelInvalidError extends FreshmirrorError {
  constructor(filename: string, what: string, url?: string) {
    super("FM_ERR_WHEEL_INVALID", `${filename}${url ? ` (${url})` : ""} is not a valid wheel: ${what}`, {
      hint: "upstream sent a truncated or corrupt file (a short Content-Length?); it was not stored",
    });
  }
}

export class BlobMissingError extends FreshmirrorError {
  constructor(sha256: string) {
    super("FM_ERR_STORE_BLOB_MISSING", `blob sha256:${sha256} is missing from the store`);
  }
}

/**
 * A snapshot about to be published lists blobs the state has no record of: gc removed them while
 * the sync ran (after gc_grace without a use), or they were never recorded. Nothing is published.
 */
export class SnapshotBlobsGoneError extends FreshmirrorError {
  constructor(mirror: string, sha256s: readonly string[]) {
    const shown = sha256s
      .slice(0, 3)
      .map((s) => `sha256:${s}`)
      .join(", ");
    const more = sha256s.length > 3 ? ` and ${sha256s.length - 3} more` : "";
    super(
      "FM_ERR_SYNC_BLOB_GONE",
      `mirror "${mirror}": not published: the new snapshot lists ${shown}${more}, no longer in the store (removed by gc while the sync ran?)`,
      { hint: "sync again (it fetches them anew); run gc outside sync windows or raise gc_grace" },
    );
  }
}

export class SyncFailedError extends FreshmirrorError {
  constructor(mirror: string, message: string, cause?: unknown) {
    super("FM_ERR_SYNC_FAILED", `sync of mirror "${mirror}" failed: ${message}`, { cause });
  }
}

/** A sync found its own records inconsistent: a bug, reported as such. */
export class SyncInternalError extends FreshmirrorError {
  constructor(message: string) {
    super("FM_ERR_SYNC_INTERNAL", message, { hint: "this is a bug: please report it" });
  }
}

export class BadRequestPathError extends FreshmirrorError {
  constructor(reason: string) {
    super("FM_ERR_HTTP_BAD_PATH", `bad request path: ${reason}`);
  }
}

export class NotFoundError extends FreshmirrorError {
  constructor(what: string) {
    super("FM_ERR_HTTP_NOT_FOUND", `not found: ${what}`);
  }
}

/** A project segment that is not a PEP 508 name: answered 404 without asking upstream. */
export class NotProjectNameError extends FreshmirrorError {
  constructor(path: string, segment: string) {
    super(
      "FM_ERR_HTTP_NOT_A_PROJECT_NAME",
      `not found: ${path}: ${JSON.stringify(segment)} is not a project name (PEP 508: letters, digits, ".", "_", "-", starting and ending with a letter or digit)`,
    );
  }
}

/** An upstream index page listing more links than one page may cost. */
export class PageTooManyLinksError extends FreshmirrorError {
  constructor(url: string, limit: number) {
    super("FM_ERR_UPSTREAM_PAGE_TOO_MANY_LINKS", `index page ${url} lists more than ${limit} links`, {
      hint: "raise max_page_links for this mirror if the page is genuine",
    });
  }
}

export class AuthError extends FreshmirrorError {
  constructor(message: string, status: 401 | 403, hint?: string) {
    super("FM_ERR_API_AUTH", message, { status, hint });
  }
}

export class SyncRefusedError extends FreshmirrorError {
  constructor(mirror: string, why: string, hint?: string) {
    super("FM_ERR_SYNC_REFUSED", `mirror "${mirror}": ${why}`, { hint });
  }
}

export class MethodNotAllowedError extends FreshmirrorError {
  readonly allow: readonly string[];

  constructor(method: string, path: string, allow: readonly string[]) {
    super(
      "FM_ERR_HTTP_METHOD_NOT_ALLOWED",
      `${method} is not allowed on ${path} (allowed: ${allow.join(", ")})`,
    );
    this.allow = allow;
  }
}

export class BadRequestError extends FreshmirrorError {
  constructor(message: string) {
    super("FM_ERR_HTTP_BAD_REQUEST", message);
  }
}

/** A message safe to show: for our errors the message, otherwise a generic line with the error's own text. */
export function describeError(error: unknown): string {
  if (error instanceof FreshmirrorError)
    return error.hint ? `${error.message} (${error.hint})` : error.message;
  if (error instanceof Error) return redactText(error.message);
  return redactText(String(error));
}
