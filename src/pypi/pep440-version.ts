// PEP 440 version identifiers: parsing, normalization and the total order.
// https://packaging.python.org/en/latest/specifications/version-specifiers/
// Behaviour follows pypa/packaging's `Version` wherever the spec leaves room.

export type PreLabel = "a" | "b" | "rc";

/** A parsed, normalized PEP 440 version. Numbers are exact (see `parseVersion`). */
export interface Version {
  epoch: number;
  /** At least one component; trailing zeros are kept (`1.0` stays `[1, 0]`) but ignored when comparing. */
  release: number[];
  pre?: { label: PreLabel; number: number };
  post?: number;
  dev?: number;
  /** Local label segments, lower-cased; all-digit segments become numbers (`+ubuntu-01` → `["ubuntu", 1]`). */
  local?: Array<string | number>;
}

// The spec's "appendix" regex, case-insensitive and anchored; the caller trims whitespace.
const VERSION_RE = new RegExp(
  "^v?" +
    "(?:(?<epoch>[0-9]+)!)?" +
    "(?<release>[0-9]+(?:\\.[0-9]+)*)" +
    "(?<pre>[-_.]?(?<preL>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<preN>[0-9]+)?)?" +
    "(?<post>(?:-(?<postN1>[0-9]+))|(?:[-_.]?(?<postL>post|rev|r)[-_.]?(?<postN2>[0-9]+)?))?" +
    "(?<dev>[-_.]?dev[-_.]?(?<devN>[0-9]+)?)?" +
    "(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$",
  "i",
);

const PRE_LABELS: Record<string, PreLabel> = {
  alpha: "a",
  a: "a",
  beta: "b",
  b: "b",
  c: "rc",
  pre: "rc",
  preview: "rc",
  rc: "rc",
};

/** Parses a digit run; null when it is beyond what a JS number holds exactly. */
function toInt(digits: string): number | null {
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Parses a PEP 440 version (any of the spellings the spec accepts: `v1.0`, `1.0-1`, `1.0.ALPHA.2`,
 * `1.0-r4`, `1.0.dev`, `1!2.0+Ubuntu_1`, surrounding whitespace). Returns null when `s` is not a
 * valid version. Also null, to keep ordering exact, when a numeric component exceeds 2^53 - 1.
 */
export function parseVersion(s: string): Version | null {
  const m = VERSION_RE.exec(s.trim());
  const g = m?.groups;
  if (!g || g.release === undefined) return null;

  const epoch = g.epoch === undefined ? 0 : toInt(g.epoch);
  if (epoch === null) return null;
  const release: number[] = [];
  for (const part of g.release.split(".")) {
    const n = toInt(part);
    if (n === null) return null;
    release.push(n);
  }
  const v: Version = { epoch, release };

  if (g.preL !== undefined) {
    const label = PRE_LABELS[g.preL.toLowerCase()];
    const number = g.preN === undefined ? 0 : toInt(g.preN);
    if (label === undefined || number === null) return null;
    v.pre = { label, number };
  }
  if (g.post !== undefined) {
    const digits = g.postN1 ?? g.postN2;
    const post = digits === undefined ? 0 : toInt(digits);
    if (post === null) return null;
    v.post = post;
  }
  if (g.dev !== undefined) {
    const dev = g.devN === undefined ? 0 : toInt(g.devN);
    if (dev === null) return null;
    v.dev = dev;
  }
  if (g.local !== undefined) {
    const local: Array<string | number> = [];
    for (const part of g.local.toLowerCase().split(/[-_.]/)) {
      if (/^[0-9]+$/.test(part)) {
        const n = toInt(part);
        if (n === null) return null;
        local.push(n);
      } else {
        local.push(part);
      }
    }
    v.local = local;
  }
  return v;
}

/** The normalized form (`1.0.ALPHA2` → `1.0a2`, `1.0-1` → `1.0.post1`, `0!1.0` → `1.0`). */
export function formatVersion(v: Version): string {
  let s = v.epoch !== 0 ? `${v.epoch}!` : "";
  s += v.release.join(".");
  if (v.pre) s += `${v.pre.label}${v.pre.number}`;
  if (v.post !== undefined) s += `.post${v.post}`;
  if (v.dev !== undefined) s += `.dev${v.dev}`;
  if (v.local) s += `+${v.local.join(".")}`;
  return s;
}

/** True for pre-releases and developmental releases (`1.0a1`, `1.0.dev0`, `1.0.post1.dev0`). */
export function isPrerelease(v: Version): boolean {
  return v.pre !== undefined || v.dev !== undefined;
}

/** The version without its local label (`2.5.1+cu121` → `2.5.1`). */
export function publicVersion(v: Version): Version {
  const pub: Version = { epoch: v.epoch, release: [...v.release] };
  if (v.pre) pub.pre = { ...v.pre };
  if (v.post !== undefined) pub.post = v.post;
  if (v.dev !== undefined) pub.dev = v.dev;
  return pub;
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const PRE_RANK: Record<PreLabel, number> = { a: 0, b: 1, rc: 2 };

// Where the pre-release slot sorts: a bare `.devN` of a final release (no pre, no post) sorts before
// every pre-release of that release; no pre-release at all sorts after all of them.
function preKey(v: Version): [number, number] {
  if (v.pre) return [PRE_RANK[v.pre.label], v.pre.number];
  if (v.dev !== undefined && v.post === undefined) return [-1, 0];
  return [3, 0];
}

function compareLocal(a: Array<string | number> | undefined, b: Array<string | number> | undefined): number {
  // No local label sorts before any local label.
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (typeof x === "number" && typeof y === "number") {
      if (x !== y) return compareNumbers(x, y);
    } else if (typeof x === "string" && typeof y === "string") {
      if (x !== y) return x < y ? -1 : 1;
    } else {
      // Alphanumeric segments sort before numeric ones.
      return typeof x === "string" ? -1 : 1;
    }
  }
  // When one is a prefix of the other, the longer one is greater.
  return compareNumbers(a.length, b.length);
}

/**
 * The PEP 440 total order: epoch, release (trailing zeros ignored), `.devN` of a final release, then
 * pre-releases, the final release, post-releases, each with its own `.devN` just before it; local
 * labels last. Returns a negative number, zero or a positive number.
 */
export function compareVersions(a: Version, b: Version): number {
  let c = compareNumbers(a.epoch, b.epoch);
  if (c !== 0) return c;

  const n = Math.max(a.release.length, b.release.length);
  for (let i = 0; i < n; i++) {
    c = compareNumbers(a.release[i] ?? 0, b.release[i] ?? 0);
    if (c !== 0) return c;
  }

  const [apl, apn] = preKey(a);
  const [bpl, bpn] = preKey(b);
  c = compareNumbers(apl, bpl) || compareNumbers(apn, bpn);
  if (c !== 0) return c;

  // No post-release sorts before any post-release.
  c = compareNumbers(a.post ?? -1, b.post ?? -1);
  if (c !== 0) return c;

  // No dev-release sorts after any dev-release.
  c = compareNumbers(a.dev ?? Number.POSITIVE_INFINITY, b.dev ?? Number.POSITIVE_INFINITY);
  if (c !== 0) return c;

  return compareLocal(a.local, b.local);
}
