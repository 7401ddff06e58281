// What actually went wrong when upstream could not be read, for the first words of a run log's
// failure line and of a mirror's last error: "connection refused", "DNS lookup failed", a TLS
// error or an HTTP status, with the (redacted) URL. Wrappers (a sync failure, an open circuit,
// undici's errors, AggregateError from Happy Eyeballs) are unwrapped through `cause` chains.
import { describeError, UpstreamStatusError, UpstreamTimeoutError } from "../errors.js";
import { redactText } from "./redact-url.js";

export type RootCauseKind = "refused" | "dns" | "tls" | "timeout" | "reset" | "http-status" | "unreachable";

export interface RootCause {
  kind: RootCauseKind;
  /** The system or library code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, ...), or "HTTP 503". */
  code: string;
  /** One line, root cause first, URL redacted. */
  summary: string;
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA"]);
const TIMEOUT_CODES = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);
const UNREACHABLE_CODES = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL"]);

function isTlsCode(code: string): boolean {
  return (
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO|EPROTO/.test(code)
  );
}

/** OpenSSL's "…:SSL routines:ssl3_get_record:wrong version number:file:line:" becomes its reason. */
function tlsReason(message: string): string {
  const openssl = /SSL routines:[^:]*:([^:]+):/.exec(message);
  return openssl ? (openssl[1] as string) : (message.split("\n")[0] ?? message);
}

/** Every error in the chain, outermost first (cause links and AggregateError members). */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  const queue = [error];
  while (queue.length > 0 && out.length < 20) {
    const next = queue.shift();
    if (next === undefined || next === null || out.includes(next)) continue;
    out.push(next);
    if (next instanceof AggregateError) queue.push(...next.errors);
    if (typeof next === "object" && "cause" in next) queue.push((next as { cause: unknown }).cause);
  }
  return out;
}

function urlOf(errors: readonly unknown[]): string | undefined {
  for (const e of errors) {
    const url = (e as { url?: unknown } | null)?.url;
    if (typeof url === "string") return url;
  }
  return undefined;
}

/** The root cause of an upstream failure, or undefined when the error is not one (a disk error, a bug). */
export function rootCause(error: unknown): RootCause | undefined {
  const errors = chain(error);
  const at = (url: string | undefined) => (url === undefined ? "" : ` for ${url}`);
  const url = urlOf(errors);
  for (const e of errors) {
    if (e instanceof UpstreamStatusError) {
      const auth =
        e.upstreamStatus === 401 || e.upstreamStatus === 403
          ? " (upstream refused the credentials: set username_env/password_env)"
          : "";
      return {
        kind: "http-status",
        code: `HTTP ${e.upstreamStatus}`,
        summary: `HTTP ${e.upstreamStatus}${auth}${at(e.url)}`,
      };
    }
  }
  for (const e of errors) {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code !== "string") continue;
    const message = e instanceof Error ? e.message : String(e);
    const target = (e as { hostname?: unknown }).hostname;
    if (code === "ECONNREFUSED")
      return { kind: "refused", code, summary: `connection refused (${code})${at(url)}` };
    if (DNS_CODES.has(code))
      return {
        kind: "dns",
        code,
        summary: `DNS lookup failed${typeof target === "string" ? ` for ${target}` : ""} (${code})${at(url)}`,
      };
    if (isTlsCode(code))
      return {
        kind: "tls",
        code,
        summary: `TLS error: ${redactText(tlsReason(message))} (${code})${at(url)}`,
      };
    if (TIMEOUT_CODES.has(code)) return { kind: "timeout", code, summary: `timed out (${code})${at(url)}` };
    if (RESET_CODES.has(code))
      return { kind: "reset", code, summary: `connection closed by upstream (${code})${at(url)}` };
    if (UNREACHABLE_CODES.has(code))
      return { kind: "unreachable", code, summary: `host unreachable (${code})${at(url)}` };
  }
  const timeout = errors.find((e) => e instanceof UpstreamTimeoutError);
  if (timeout) return { kind: "timeout", code: "timeout", summary: describeError(timeout) };
  return undefined;
}

/** A failure as a run log and a mirror's last error show it: the root cause first, then the whole story. */
export function describeFailure(error: unknown): string {
  const full = describeError(error);
  const cause = rootCause(error);
  if (cause === undefined || full.startsWith(cause.summary)) return full;
  return `${cause.summary} — ${full}`;
}
