// Content negotiation for simple index pages (PEP 691), with q-values as RFC 9110 §12.5.1
// describes: the highest-q acceptable format wins; on a tie (`*/*`, or no Accept header) plain
// HTML wins, as on PyPI, so old clients and browsers get what they always got.

export const JSON_V1 = "application/vnd.pypi.simple.v1+json";
export const HTML_V1 = "application/vnd.pypi.simple.v1+html";
export const TEXT_HTML = "text/html";

export type SimpleFormat = { format: "json"; contentType: string } | { format: "html"; contentType: string };

const OFFERS: readonly { types: readonly string[]; result: SimpleFormat }[] = [
  { types: [TEXT_HTML], result: { format: "html", contentType: `${TEXT_HTML}; charset=utf-8` } },
  {
    types: [HTML_V1, "application/vnd.pypi.simple.latest+html"],
    result: { format: "html", contentType: HTML_V1 },
  },
  {
    types: [JSON_V1, "application/vnd.pypi.simple.latest+json"],
    result: { format: "json", contentType: JSON_V1 },
  },
];

interface MediaRange {
  type: string;
  q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(",")) {
    const [rawType, ...params] = part.split(";");
    const type = rawType?.trim().toLowerCase();
    if (!type) continue;
    let q = 1;
    for (const param of params) {
      const [key, value] = param.split("=").map((s) => s.trim());
      if (key?.toLowerCase() === "q") {
        const parsed = Number(value);
        q = Number.isFinite(parsed) ? Math.min(1, Math.max(0, parsed)) : 0;
      }
    }
    ranges.push({ type, q });
  }
  return ranges;
}

function qualityOf(type: string, ranges: readonly MediaRange[]): number {
  let best = -1;
  let bestSpecificity = -1;
  const [major] = type.split("/");
  for (const range of ranges) {
    let specificity: number;
    if (range.type === type) specificity = 2;
    else if (range.type === `${major}/*`) specificity = 1;
    else if (range.type === "*/*") specificity = 0;
    else continue;
    if (specificity > bestSpecificity) {
      bestSpecificity = specificity;
      best = range.q;
    }
  }
  return best;
}

/** The format to answer with, or null when nothing offered is acceptable (406). */
export function negotiateSimpleFormat(accept: string | undefined): SimpleFormat | null {
  if (accept === undefined || accept.trim() === "") return OFFERS[0]?.result ?? null;
  const ranges = parseAccept(accept);
  let chosen: SimpleFormat | null = null;
  let chosenQ = 0;
  for (const offer of OFFERS) {
    const q = Math.max(...offer.types.map((t) => qualityOf(t, ranges)));
    if (q > chosenQ) {
      chosen = offer.result;
      chosenQ = q;
    }
  }
  return chosen;
}
