// The data model shared by the index parsers (PEP 503 HTML, PEP 691 JSON), the planner and
// the page renderers. Parsers turn upstream bytes into these; nothing here does I/O.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/

/** One distribution file listed on a project page. */
export interface DistributionFile {
  /** The file name as published (the last path segment of the URL, percent-decoded). */
  filename: string;
  /** Absolute URL of the file, resolved against the page URL, without the #fragment. */
  url: string;
  /** Hashes by lower-case algorithm name (from the URL fragment or the JSON `hashes`), hex lower-case. */
  hashes: Record<string, string>;
  /** `data-requires-python` / `requires-python`, entities decoded. */
  requiresPython?: string;
  /** PEP 592: false, or the reason ("" when yanked without one). */
  yanked: false | string;
  /**
   * PEP 658/714 core metadata: false when not offered, otherwise the hashes of the `.metadata`
   * file (an empty object when offered without a hash, i.e. `data-core-metadata="true"`).
   */
  coreMetadata: false | Record<string, string>;
  /** PEP 700: size in bytes, when the index gives it. */
  size?: number;
  /** PEP 700: ISO 8601 upload time, when the index gives it. */
  uploadTime?: string;
  /**
   * The href as written, when it has `.`/`..` segments that URL resolution removed (other than the
   * leading `../` of a relative link): `url` is then not what the page plainly names, and a sync
   * skips the file with a warning.
   */
  dotSegmentHref?: string;
}

/** One project page (`/<index>/<project>/`). */
export interface ProjectPage {
  /** The project name as the page gives it (JSON `name`), or as requested; normalize for lookups. */
  name: string;
  files: DistributionFile[];
  /** PEP 700 `versions`, when the JSON page gives them. */
  versions?: string[];
  meta: PageMeta;
}

export interface PageMeta {
  /** `meta.api-version` (JSON) or `<meta name="pypi:repository-version">` (HTML). */
  apiVersion?: string;
  /** PyPI's `<!--SERIAL n-->` / `X-PyPI-Last-Serial` / JSON `meta._last-serial`. */
  lastSerial?: number;
  /** download.pytorch.org's `<!--TIMESTAMP n-->` trailer (seconds since the epoch). */
  timestamp?: number;
}

/** The project list (`/<index>/`). */
export interface ProjectList {
  /** Project names as listed (not normalized). */
  projects: string[];
  meta: PageMeta;
}

/** PEP 503 name normalization: runs of `-`, `_`, `.` become one `-`, lower-cased. */
export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/**
 * A valid project name (PEP 508, https://peps.python.org/pep-0508/#names): ASCII letters and
 * digits, with `.`, `_`, `-` inside. Anything else (`?`, `#`, `%`, `/`, `..`) is not a name, and
 * never goes upstream or into the cache.
 */
export function isValidProjectName(name: string): boolean {
  return name.length <= 200 && /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i.test(name);
}
