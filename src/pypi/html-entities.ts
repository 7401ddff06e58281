// HTML character references (&gt;, &#x27;, &#60;, ...) in the attribute values and texts of
// simple index pages. https://html.spec.whatwg.org/multipage/parsing.html#character-reference-state
//
// Which names: the HTML5 table has 2,231 names (about 40 KB of data). What a simple index page
// decodes is hrefs (URLs), file and project names, hashes, PEP 440 specifiers and yank reasons,
// all made of ASCII. So we know every named reference whose value is one ASCII character (the 45
// names below: `&gt;`, `&equals;`, `&plus;`, `&excl;`, `&tilde;` is not one: it is U+02DC) and
// `&nbsp;`; any other name (`&copy;`, `&eacute;`) is left as written, which can only change how a
// title or a yank reason reads, never which file a link names. Real pages use `&gt;` and `&lt;`
// only (test/fixtures/real-world/pep503-html: 4,062 and 225 times). Numeric references are
// decoded in full, with WHATWG's remapping of 0x80-0x9F to the windows-1252 characters meant.
// The list is Python's html.entities.html5 filtered to one-ASCII-character values.

/** Named references whose value is one ASCII character, and nbsp (WHATWG named character references). */
const NAMED_REFERENCES: ReadonlyMap<string, string> = new Map([
  ["AMP", "&"],
  ["amp", "&"],
  ["GT", ">"],
  ["gt", ">"],
  ["LT", "<"],
  ["lt", "<"],
  ["QUOT", '"'],
  ["quot", '"'],
  ["apos", "'"],
  ["ast", "*"],
  ["midast", "*"],
  ["bsol", "\\"],
  ["colon", ":"],
  ["comma", ","],
  ["commat", "@"],
  ["dollar", "$"],
  ["equals", "="],
  ["excl", "!"],
  ["grave", "`"],
  ["DiacriticalGrave", "`"],
  ["Hat", "^"],
  ["lbrace", "{"],
  ["lcub", "{"],
  ["rbrace", "}"],
  ["rcub", "}"],
  ["lbrack", "["],
  ["lsqb", "["],
  ["rbrack", "]"],
  ["rsqb", "]"],
  ["lpar", "("],
  ["rpar", ")"],
  ["lowbar", "_"],
  ["UnderBar", "_"],
  ["NewLine", "\n"],
  ["Tab", "\t"],
  ["num", "#"],
  ["percnt", "%"],
  ["period", "."],
  ["plus", "+"],
  ["quest", "?"],
  ["semi", ";"],
  ["sol", "/"],
  ["verbar", "|"],
  ["vert", "|"],
  ["VerticalLine", "|"],
  ["nbsp", "\u00a0"],
]);
/** Of those, the legacy names a browser also decodes without the trailing ";". */
const LEGACY_REFERENCES = new Set(["amp", "AMP", "lt", "LT", "gt", "GT", "quot", "QUOT", "nbsp"]);
const CHARACTER_REFERENCE = /&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]{0,31}))(;?)/g;

/** WHATWG: numeric references 0x80-0x9F mean the windows-1252 character, not the C1 control. */
const C1_REMAP: ReadonlyMap<number, number> = new Map([
  [0x80, 0x20ac],
  [0x82, 0x201a],
  [0x83, 0x0192],
  [0x84, 0x201e],
  [0x85, 0x2026],
  [0x86, 0x2020],
  [0x87, 0x2021],
  [0x88, 0x02c6],
  [0x89, 0x2030],
  [0x8a, 0x0160],
  [0x8b, 0x2039],
  [0x8c, 0x0152],
  [0x8e, 0x017d],
  [0x91, 0x2018],
  [0x92, 0x2019],
  [0x93, 0x201c],
  [0x94, 0x201d],
  [0x95, 0x2022],
  [0x96, 0x2013],
  [0x97, 0x2014],
  [0x98, 0x02dc],
  [0x99, 0x2122],
  [0x9a, 0x0161],
  [0x9b, 0x203a],
  [0x9c, 0x0153],
  [0x9e, 0x017e],
  [0x9f, 0x0178],
]);

function codePointText(codePoint: number): string {
  if (codePoint === 0 || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff))
    return "\ufffd";
  return String.fromCodePoint(C1_REMAP.get(codePoint) ?? codePoint);
}

/**
 * Decodes character references (`&gt;`, `&#x27;`, `&#60;`, ...): numeric ones in full, named ones
 * from the ASCII table above; any other named reference is left as written.
 */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(
    CHARACTER_REFERENCE,
    (whole: string, dec?: string, hex?: string, name?: string, semicolon?: string) => {
      if (dec !== undefined) return codePointText(Number.parseInt(dec, 10));
      if (hex !== undefined) return codePointText(Number.parseInt(hex, 16));
      if (name === undefined) return whole;
      const decoded = NAMED_REFERENCES.get(name);
      if (decoded === undefined || (!semicolon && !LEGACY_REFERENCES.has(name))) return whole;
      return decoded;
    },
  );
}
