// HTML character references (&gt;, &#x27;, &#60;, ...) in the attribute values and texts of
// simple index pages. https://html.spec.whatwg.org/multipage/parsing.html#character-reference-state

const NAMED_REFERENCES: Record<string, string> = {
  amp: "&",
  AMP: "&",
  lt: "<",
  LT: "<",
  gt: ">",
  GT: ">",
  quot: '"',
  QUOT: '"',
  apos: "'",
  nbsp: "\u00a0",
};
/** Legacy names a browser also decodes without the trailing ";". */
const LEGACY_REFERENCES = new Set(["amp", "AMP", "lt", "LT", "gt", "GT", "quot", "QUOT", "nbsp"]);
const CHARACTER_REFERENCE = /&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]{0,31}))(;?)/g;

function codePointText(codePoint: number): string {
  if (codePoint === 0 || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff))
    return "\ufffd";
  return String.fromCodePoint(codePoint);
}

/**
 * Decodes character references (`&gt;`, `&#x27;`, `&#60;`, ...). Only the names index pages use are
 * known; any other named reference is left as written.
 */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(
    CHARACTER_REFERENCE,
    (whole: string, dec?: string, hex?: string, name?: string, semicolon?: string) => {
      if (dec !== undefined) return codePointText(Number.parseInt(dec, 10));
      if (hex !== undefined) return codePointText(Number.parseInt(hex, 16));
      if (name === undefined) return whole;
      const decoded = NAMED_REFERENCES[name];
      if (decoded === undefined || (!semicolon && !LEGACY_REFERENCES.has(name))) return whole;
      return decoded;
    },
  );
}
