// Checks that need more than one field's type: values the schema accepts as a type but that can
// never work (a negative cache bound, a zero timeout, an allow_hosts entry no URL can match, a
// `versions` key for a project the mirror does not carry). Each problem names its field path,
// as the schema's own problems do, and all are reported together.
import type { ParsedConfig } from "./schema.js";

/** The largest delay setTimeout honours; a longer one fires at once (Node clamps it to 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Durations where 0 cannot mean anything sensible (a timeout that fires at once, a busy loop). */
const POSITIVE_DURATIONS = [
  "upstream_timeout",
  "fill_timeout",
  "fail_timeout",
  "retry_backoff",
  "watch",
  "lag_warn",
  "lag_critical",
] as const;

/** Durations handed to setTimeout, so bounded by what it can wait. */
const TIMER_DURATIONS = [
  "upstream_timeout",
  "fill_timeout",
  "fail_timeout",
  "retry_backoff",
  "watch",
] as const;

export function configProblems(parsed: ParsedConfig): string[] {
  const problems: string[] = [];
  if (parsed.max_cache_size !== undefined && !(parsed.max_cache_size > 0)) {
    problems.push(
      `max_cache_size: must be a positive size such as 500GiB, got ${parsed.max_cache_size}; leave it out for no bound`,
    );
  }
  for (const [name, mirror] of Object.entries(parsed.mirrors)) {
    // The fields every kind shares (src/config/base-mirror.ts), where the entry has them.
    const at = `mirrors.${name}`;
    for (const field of POSITIVE_DURATIONS) {
      const ms = mirror[field];
      if (ms === 0) problems.push(`${at}.${field}: must be longer than 0`);
    }
    for (const field of TIMER_DURATIONS) {
      const ms = mirror[field];
      if (typeof ms === "number" && ms > MAX_TIMER_MS) {
        problems.push(`${at}.${field}: too long (at most 24d)`);
      }
    }
    const retry = mirror.retry as { backoff?: number } | undefined;
    if (retry?.backoff === 0) problems.push(`${at}.retry.backoff: must be longer than 0`);
    const allowHosts = Array.isArray(mirror.allow_hosts) ? (mirror.allow_hosts as string[]) : [];
    allowHosts.forEach((entry, i) => {
      const why = unmatchableHost(entry);
      if (why !== undefined) problems.push(`${at}.allow_hosts[${i}]: ${why}`);
    });
  }
  return problems;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  return closest(word, candidates);
}

/**
 * Why an allow_hosts entry can never equal the host of a URL (what the upstream client compares
 * it with, see UpstreamClient.isAllowed), or undefined when it can.
 */
export function unmatchableHost(entry: string): string | undefined {
  const quoted = JSON.stringify(entry);
  if (/\*/.test(entry)) return `${quoted}: wildcards are not supported; list each host`;
  if (entry.includes("://")) return `${quoted}: a host name, not a URL (e.g. "files.example.org")`;
  let url: URL;
  try {
    url = new URL(`http://${entry}`);
  } catch {
    return `${quoted}: not a host name`;
  }
  if (
    url.pathname !== "/" ||
    url.search !== "" ||
    url.hash !== "" ||
    url.username !== "" ||
    entry.includes("/")
  ) {
    return `${quoted}: a host name only, without a path, query or user (e.g. "${url.host}")`;
  }
  if (url.host !== entry && url.hostname !== entry) {
    return `${quoted}: hosts are compared in their canonical form; write "${url.host}"`;
  }
  return undefined;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitute));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** Directories freshmirror must never take as its data_dir: it creates, sweeps and deletes in there. */
const SYSTEM_DIRS = new Set([
  "/",
  "/home",
  "/media",
  "/mnt",
  "/opt",
  "/run",
  "/srv",
  "/tmp",
  "/usr/local",
  "/var",
  "/var/cache",
  "/var/lib",
  "/var/tmp",
]);
/** Trees that belong to the operating system, all the way down (except RAM disks in /dev/shm). */
const SYSTEM_TREES = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/proc",
  "/sbin",
  "/sys",
  "/usr",
];

/**
 * Why `dataDir` (absolute, symlinks resolved) is no place for freshmirror's data, or undefined
 * when it is fine: `/var/lib/freshmirror`, `/srv/mirror`, `/tmp/x`, `/usr/local/freshmirror`.
 */
export function systemDirProblem(dataDir: string): string | undefined {
  const path = dataDir.length > 1 ? dataDir.replace(/\/+$/, "") : dataDir;
  const inTree = SYSTEM_TREES.some((tree) => path === tree || path.startsWith(`${tree}/`));
  const allowedInTree = path.startsWith("/dev/shm/") || path.startsWith("/usr/local/");
  if (SYSTEM_DIRS.has(path) || (inTree && !allowedInTree)) {
    return `data_dir: ${JSON.stringify(path)} is a system directory; use a folder of its own such as /var/lib/freshmirror`;
  }
  return undefined;
}
