// Error classes with stable codes. Every code is listed in docs/errors.md; a test keeps the
// two in step. Messages name what was wrong (a URL, a file, a field) and never carry
// credentials: the base class masks every URL in its message (redactText), and errors that keep
// a URL keep it masked, so no page, log or API answer built from an error can leak one.
import { redactText, redactUrl } from "./upstream/redact-url.js";

export interface FreshmirrorErrorOptions {
  /** HTTP status to answer with when this error reaches a client. */
  status?: number;
  /** Something the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class FreshmirrorError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: FreshmirrorErrorOptions = {}) {
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? 500;
    this.hint = options.hint === undefined ? undefined : redactText(options.hint);
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
    super("FM_ERR_CLI_USAGE", message, { status: 400, hint: "see `freshmirror --help`" });
  }
}

export class UpstreamStatusError extends FreshmirrorError {
  readonly url: string;
  readonly upstreamStatus: number;

  constructor(url: string, upstreamStatus: number) {
    super("FM_ERR_UPSTREAM_STATUS", `upstream answered HTTP ${upstreamStatus} for ${url}`, { status: 502 });
    this.url = redactUrl(url);
    this.upstreamStatus = upstreamStatus;
  }
}

export class UpstreamNetworkError extends FreshmirrorError {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super("FM_ERR_UPSTREAM_NETWORK", `could not reach upstream for ${url}: ${why}`, { status: 502, cause });
    this.url = redactUrl(url);
  }
}

export class UpstreamTimeoutError extends FreshmirrorError {
  readonly url: string;

  constructor(url: string, timeoutMs: number) {
    super("FM_ERR_UPSTREAM_TIMEOUT", `upstream did not answer within ${timeoutMs} ms for ${url}`, {
      status: 504,
    });
    this.url = redactUrl(url);
  }
}

export class UpstreamCircuitOpenError extends FreshmirrorError {
  /** The request refused (redacted), if known. */
  readonly url: string | undefined;

  /** `lastFailure` opened the circuit: what an operator needs to know first. */
  constructor(host: string, untilMs: number, lastFailure?: unknown, url?: string) {
    const why =
      lastFailure === undefined
        ? ""
        : `: ${lastFailure instanceof Error ? lastFailure.message : String(lastFailure)}`;
    super(
      "FM_ERR_UPSTREAM_CIRCUIT_OPEN",
      `upstream ${host} failed repeatedly${why}; not retried until ${new Date(untilMs).toISOString()}`,
      { status: 502, cause: lastFailure },
    );
    this.url = url === undefined ? undefined : redactUrl(url);
  }
}

export class NotAllowedHostError extends FreshmirrorError {
  constructor(url: string, allowed: readonly string[]) {
    super(
      "FM_ERR_UPSTREAM_HOST_NOT_ALLOWED",
      `refusing to fetch ${url}: host not in this mirror's allowlist (${allowed.join(", ")})`,
      { status: 502, hint: "add the host to the mirror's allow_hosts if it is trusted" },
    );
  }
}

export class MalformedPageError extends FreshmirrorError {
  readonly url: string;

  constructor(url: string, what: string) {
    super("FM_ERR_UPSTREAM_MALFORMED_PAGE", `malformed index page at ${url}: ${what}`, { status: 502 });
    this.url = redactUrl(url);
  }
}

export class BodyTooLargeError extends FreshmirrorError {
  constructor(url: string, limit: number) {
    super(
      "FM_ERR_UPSTREAM_BODY_TOO_LARGE",
      `response from ${url} is larger than the limit of ${limit} bytes`,
      {
        status: 502,
      },
    );
  }
}

export class DigestMismatchError extends FreshmirrorError {
  readonly filename: string;
  readonly expected: string;
  readonly actual: string;

  constructor(filename: string, expected: string, actual: string, url?: string) {
    super(
      "FM_ERR_DIGEST_MISMATCH",
      `sha256 mismatch for ${filename}${url ? ` (${url})` : ""}: index says ${expected}, downloaded bytes hash to ${actual}`,
      { status: 502, hint: "the upstream file or its index is corrupt; the file was not stored" },
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
      { status: 502 },
    );
  }
}

/** More bytes arrived than the file's declared size (index `size` or Content-Length). */
export class FetchTooLargeError extends FreshmirrorError {
  constructor(filename: string, url: string, declared: number, received: number, declaredBy: string) {
    super(
      "FM_ERR_FETCH_TOO_LARGE",
      `download of ${filename} (${url}) stopped: received ${received} bytes, more than the ${declared} bytes ${declaredBy} declared`,
      { status: 502, hint: "the upstream file or its index is wrong; nothing was stored" },
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
      { status: 502, hint: "raise the mirror's max_file_size if files this large are expected" },
    );
  }
}

/** Every client of an on-demand download left and none came back within `abandon_grace`. */
export class FetchAbandonedError extends FreshmirrorError {
  constructor(filename: string, graceMs: number) {
    super(
      "FM_ERR_FETCH_ABANDONED",
      `download of ${filename} abandoned: no client was waiting for it for ${graceMs} ms (abandon_grace)`,
      { status: 502, hint: "request the file again to restart it" },
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
      { status: 503, hint: "retry later; the operator can raise max_file_responses" },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class SyncLockedError extends FreshmirrorError {
  constructor(mirror: string, holder: string) {
    super("FM_ERR_SYNC_LOCKED", `a sync of mirror "${mirror}" is already running (${holder})`, {
      status: 409,
      hint: "wait for it to finish; a lock left by a killed process is taken over automatically",
    });
  }
}

export class UnknownMirrorError extends FreshmirrorError {
  constructor(mirror: string, known: readonly string[]) {
    super(
      "FM_ERR_MIRROR_UNKNOWN",
      `no mirror named "${mirror}" (configured: ${known.length ? known.join(", ") : "none"})`,
      { status: 404 },
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
      status: 500,
      hint,
      cause,
    });
  }
}

export class WheelMetadataError extends FreshmirrorError {
  constructor(label: string, what: string) {
    super("FM_ERR_WHEEL_METADATA", `cannot read core metadata from wheel ${label}: ${what}`, {
      status: 502,
      hint: "no .metadata file is served for this wheel; the wheel itself is unaffected",
    });
  }
}

export class WheelInvalidError extends FreshmirrorError {
  constructor(filename: string, what: string, url?: string) {
    super("FM_ERR_WHEEL_INVALID", `${filename}${url ? ` (${url})` : ""} is not a valid wheel: ${what}`, {
      status: 502,
      hint: "upstream sent a truncated or corrupt file (a short Content-Length?); it was not stored",
    });
  }
}

export class BlobMissingError extends FreshmirrorError {
  constructor(sha256: string) {
    super("FM_ERR_STORE_BLOB_MISSING", `blob sha256:${sha256} is missing from the store`, { status: 500 });
  }
}

export class SyncFailedError extends FreshmirrorError {
  constructor(mirror: string, message: string, cause?: unknown) {
    super("FM_ERR_SYNC_FAILED", `sync of mirror "${mirror}" failed: ${message}`, { cause });
  }
}

export class BadRequestPathError extends FreshmirrorError {
  constructor(reason: string) {
    super("FM_ERR_HTTP_BAD_PATH", `bad request path: ${reason}`, { status: 400 });
  }
}

export class NotFoundError extends FreshmirrorError {
  constructor(what: string) {
    super("FM_ERR_HTTP_NOT_FOUND", `not found: ${what}`, { status: 404 });
  }
}

/** A project segment that is not a PEP 508 name: answered 404 without asking upstream. */
export class NotProjectNameError extends FreshmirrorError {
  constructor(path: string, segment: string) {
    super(
      "FM_ERR_HTTP_NOT_A_PROJECT_NAME",
      `not found: ${path}: ${JSON.stringify(segment)} is not a project name (PEP 508: letters, digits, ".", "_", "-", starting and ending with a letter or digit)`,
      { status: 404 },
    );
  }
}

/** An upstream index page listing more links than one page may cost. */
export class PageTooManyLinksError extends FreshmirrorError {
  constructor(url: string, limit: number) {
    super("FM_ERR_UPSTREAM_PAGE_TOO_MANY_LINKS", `index page ${url} lists more than ${limit} links`, {
      status: 502,
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
    super("FM_ERR_SYNC_REFUSED", `mirror "${mirror}": ${why}`, { status: 409, hint });
  }
}

export class MethodNotAllowedError extends FreshmirrorError {
  readonly allow: readonly string[];

  constructor(method: string, path: string, allow: readonly string[]) {
    super(
      "FM_ERR_HTTP_METHOD_NOT_ALLOWED",
      `${method} is not allowed on ${path} (allowed: ${allow.join(", ")})`,
      {
        status: 405,
      },
    );
    this.allow = allow;
  }
}

export class BadRequestError extends FreshmirrorError {
  constructor(message: string) {
    super("FM_ERR_HTTP_BAD_REQUEST", message, { status: 400 });
  }
}

/** A message safe to show: for our errors the message, otherwise a generic line with the error's own text. */
export function describeError(error: unknown): string {
  if (error instanceof FreshmirrorError)
    return error.hint ? `${error.message} (${error.hint})` : error.message;
  if (error instanceof Error) return redactText(error.message);
  return redactText(String(error));
}
