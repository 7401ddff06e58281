// The `Link: <url>; rel="next"` header that paginates tag lists:
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags (RFC 8288).

/** The target of the first `rel="next"` link, or undefined. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const values = typeof header === "string" ? [header] : header;
  for (const value of values) {
    for (const m of value.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
      const params = m[2] ?? "";
      if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(params)) return m[1];
    }
  }
  return undefined;
}
