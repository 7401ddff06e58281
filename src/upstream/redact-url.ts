// The one place that makes a URL safe to show or log: userinfo (`user:password@`, RFC 3986
// section 3.2.1 deprecates it for exactly this reason) is dropped, and the values of query
// parameters that carry credentials (tokens, passwords, pre-signed URL signatures) become "***".
// Every page, API answer, metric label, run log line and error message that shows a URL goes
// through here.

/**
 * Query parameters whose values are secrets (compared case-insensitively), among them the
 * signatures of the storage URLs registries redirect blob GETs to (S3, GCS, Azure `sig`,
 * Cloudflare's `verify` on Docker Hub's storage host).
 */
const SECRET_PARAMS =
  /^(?:token|access_token|auth|auth_token|api_key|apikey|key|password|passwd|pwd|secret|sig|signature|x-signature|verify|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)$/i;

const REDACTED = "***";

function redactQuery(query: string): string {
  return query.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, sep: string, name: string) => {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // A malformed name is compared as written.
    }
    return SECRET_PARAMS.test(decoded) ? `${sep}${name}=${REDACTED}` : whole;
  });
}

/** The URL without userinfo and with secret query values masked; text that is no URL is returned masked the same way. */
export function redactUrl(url: string): string {
  return redactText(url);
}

/**
 * Masks every URL inside free text (an error message, a log line): userinfo of any
 * `scheme://user:pass@host` is removed, secret query parameter values become "***".
 */
export function redactText(text: string): string {
  if (!text.includes("@") && !text.includes("=")) return text;
  return (
    text
      // scheme://userinfo@ — the userinfo ends at the last "@" before the path (passwords may hold "@").
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>]*@/gi, "$1")
      // ?a=b&token=c — only inside something that looks like a URL's query.
      .replace(/\?[^\s"'<>]*/g, (query) => redactQuery(query))
  );
}
