// Registry error codes and the JSON error body of the OCI distribution spec:
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
// A registry answers `{"errors":[{"code","message","detail"}]}`; clients (docker, containerd,
// skopeo) branch on `code`, so the codes here are the spec's, not ours.
//
// The FreshmirrorError code of each is `FM_ERR_OCI_<SPEC CODE>`, listed one by one in ERROR_CODES
// (src/errors.ts) and docs/errors.md; the compiler checks that every spec code below has one,
// and src/errors.test.ts that the statuses agree.
import { FreshmirrorError } from "../errors.js";

/** HTTP status for each spec code (statuses as CNCF distribution answers them). */
export const OCI_ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 404,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  TAG_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  // A read-only registry answers pushes with UNSUPPORTED 405, as distribution does in read-only mode.
  UNSUPPORTED: 405,
  RANGE_INVALID: 416,
  TOOMANYREQUESTS: 429,
} as const satisfies Record<string, number>;

export type OciErrorCode = keyof typeof OCI_ERROR_STATUS;

export function isOciErrorCode(value: unknown): value is OciErrorCode {
  return typeof value === "string" && Object.hasOwn(OCI_ERROR_STATUS, value);
}

export interface OciErrorOptions {
  /** Structured detail for the `detail` field; must never hold credentials. */
  detail?: unknown;
  /** Seconds a client should wait (TOOMANYREQUESTS, or an upstream's Retry-After passed on). */
  retryAfterSeconds?: number;
  /** Overrides the spec status, e.g. 502 when an upstream's answer is the cause. */
  status?: number;
  hint?: string;
  cause?: unknown;
}

/** An error that maps to one spec error code and is served as the spec's JSON body. */
export class OciError extends FreshmirrorError {
  readonly ociCode: OciErrorCode;
  readonly detail: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(ociCode: OciErrorCode, message: string, options: OciErrorOptions = {}) {
    super(`FM_ERR_OCI_${ociCode}`, message, {
      status: options.status ?? OCI_ERROR_STATUS[ociCode],
      hint: options.hint,
      cause: options.cause,
    });
    this.ociCode = ociCode;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** The spec's error body for one error. */
export function ociErrorBody(error: OciError): OciErrorBody {
  const entry: OciErrorBody["errors"][number] = { code: error.ociCode, message: error.message };
  if (error.detail !== undefined) entry.detail = error.detail;
  return { errors: [entry] };
}

/** Status, headers and body bytes to send for an error; Retry-After when the error carries one. */
export function ociErrorResponse(error: OciError): {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
} {
  const body = Buffer.from(JSON.stringify(ociErrorBody(error)));
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(body.length),
  };
  if (error.retryAfterSeconds !== undefined)
    headers["retry-after"] = String(Math.max(0, Math.ceil(error.retryAfterSeconds)));
  return { status: error.status, headers, body };
}

/**
 * Reads the first spec error from an upstream's error body, if it is one. Upstream bodies are
 * untrusted: anything that is not the spec's shape gives undefined, and the message is cut short.
 */
export function parseOciErrorBody(text: string): { code: OciErrorCode; message: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const errors = (parsed as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return undefined;
  for (const entry of errors) {
    if (typeof entry !== "object" || entry === null) continue;
    const { code, message } = entry as { code?: unknown; message?: unknown };
    if (isOciErrorCode(code))
      return { code, message: typeof message === "string" ? message.slice(0, 200) : "" };
  }
  return undefined;
}

/**
 * Parses Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date. Returns seconds
 * from `nowMs`, or undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,10}$/.test(trimmed)) return Number(trimmed);
  // An HTTP-date always names its day and month; anything else (like "-5") is not one.
  if (!/^[A-Za-z]{3}, /.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
