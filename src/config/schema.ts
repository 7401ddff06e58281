// The config schema: YAML keys in snake_case as mirror operators expect, every field with a
// default, validated once at start-up into a frozen, typed, camelCase object with durations and
// sizes already parsed. Errors name the field path and what was expected.
import { Cron } from "croner";
import { z } from "zod";
import { type HookConfig, hooksSchema } from "../events/hook-config.js";
import { LOG_LEVELS, type LogLevel } from "../logging/logger.js";
import { ANY_INDEX, indexEntryProblem, isIndexPattern } from "../pypi/index-pattern.js";
import { parseSpecifierSet } from "../pypi/pep440-specifier.js";
import { normalizeProjectName } from "../pypi/project-page.js";
import { parseDuration, parseSize } from "./duration.js";
import { splitUpstreamUrl, UpstreamCredentials } from "./upstream-credentials.js";

const duration = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = typeof value === "number" ? value * 1000 : parseDuration(value);
    if (ms === null || !Number.isFinite(ms) || ms < 0) {
      ctx.addIssue({
        code: "custom",
        message: `not a duration (${what}): ${JSON.stringify(value)}; use e.g. 30s, 10m, 6h, 1d`,
      });
      return z.NEVER;
    }
    return ms;
  });

const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = typeof value === "number" ? value : parseSize(value);
  if (bytes === null) {
    ctx.addIssue({ code: "custom", message: `not a size: ${JSON.stringify(value)}; use e.g. 500GiB, 2TB` });
    return z.NEVER;
  }
  return bytes;
});

const httpUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `not a URL: ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `not an http(s) URL: ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return value.replace(/\/+$/, "");
});

export type Schedule = { kind: "cron"; expression: string } | { kind: "interval"; everyMs: number };

const schedule = z.string().transform((value, ctx): Schedule => {
  const text = value.trim();
  const everyMs = parseDuration(text);
  if (everyMs !== null) {
    if (everyMs < 1000) {
      ctx.addIssue({ code: "custom", message: `interval too short: ${JSON.stringify(value)} (at least 1s)` });
      return z.NEVER;
    }
    return { kind: "interval", everyMs };
  }
  if (text.split(/\s+/).length === 5) {
    try {
      new Cron(text, { paused: true });
      return { kind: "cron", expression: text };
    } catch {
      // reported below
    }
  }
  ctx.addIssue({
    code: "custom",
    message: `not a cron expression or interval: ${JSON.stringify(value)}; use 5 cron fields ("0 2 * * *") or an interval ("6h")`,
  });
  return z.NEVER;
});

const specifier = z.string().superRefine((value, ctx) => {
  try {
    parseSpecifierSet(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
  }
});

const indexPath = z
  .string()
  .transform((value) => value.replace(/^\/+|\/+$/g, ""))
  .superRefine((value, ctx) => {
    const problem = value === "" ? "empty" : indexEntryProblem(value);
    if (problem !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: `not an index path: ${JSON.stringify(value)} (${problem}); use e.g. "simple", "whl/cu121" or, in proxy mode, "whl/*"`,
      });
    }
  });

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name");

const mirrorName = /^[a-z0-9][a-z0-9._-]*$/;
const RESERVED_NAMES = new Set([
  "api",
  "help",
  "v2",
  "metrics",
  "jobs",
  "static",
  "mirrorz.json",
  "favicon.ico",
  "status",
  "healthz",
  "index.html",
]);

export const pypiMirrorSchema = z
  .object({
    type: z.literal("pypi"),
    upstream: httpUrl,
    // Names of environment variables holding the upstream's Basic credentials (read at load).
    username_env: envName.optional(),
    password_env: envName.optional(),
    // Omitted: "simple" for a mirror; any index path upstream serves for a proxy (see index-pattern.ts).
    indexes: z.array(indexPath).min(1).optional(),
    mode: z.enum(["mirror", "proxy"]).default("mirror"),
    // What one proxied page may cost: more links than this and it is refused (502), not parsed on.
    max_page_links: z.number().int().min(1).default(500_000),
    projects: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "not a project name")).optional(),
    // One specifier for every project, or one per project: { torch: ">=2.5", torchvision: ">=0.20" }.
    versions: z.union([specifier, z.record(z.string(), specifier)]).optional(),
    platforms: z.array(z.string().min(1)).optional(),
    python: z.array(z.string().regex(/^[a-z]+\d*$/, "not a python tag such as cp311 or py3")).optional(),
    keep_latest: z.number().int().min(0).default(0),
    prereleases: z.boolean().default(false),
    sdists: z.boolean().default(true),
    yanked: z.boolean().default(true),
    core_metadata: z.boolean().default(true),
    schedule: schedule.prefault("0 2 * * *"),
    watch: duration("watch interval").optional(),
    on_miss: z.enum(["fetch", "404"]).default("fetch"),
    allow_hosts: z.array(z.string().min(1)).default([]),
    concurrency: z.number().int().min(1).max(64).default(4),
    retries: z.number().int().min(0).max(20).default(3),
    retry_backoff: duration("retry backoff").prefault("1s"),
    upstream_timeout: duration("upstream timeout").prefault("10s"),
    index_ttl: duration("index ttl").prefault("10m"),
    negative_ttl: duration("negative ttl").prefault("1m"),
    fill_timeout: duration("fill timeout").prefault("30m"),
    // Largest file this mirror downloads: refused up front when its declared size is larger,
    // stopped the moment more bytes arrive. torch CUDA wheels are ~2.5 GB, CUDA image layers a
    // few GB; an endless or hostile upstream body must not fill the disk.
    max_file_size: size.prefault("20GiB"),
    // An on-demand download whose clients have all left goes on this long (a client that comes
    // back joins it), then is abandoned and its temp file deleted. Sync downloads never are.
    abandon_grace: duration("abandon grace").prefault("30s"),
    max_fails: z.number().int().min(1).default(5),
    fail_timeout: duration("fail timeout").prefault("30s"),
    disabled: z.boolean().default(false),
    paused: z.boolean().default(false),
    description: z.string().optional(),
    // Scheduling (issue 3): a random delay up to `jitter` after each slot, so many mirrors on one
    // cron line do not hit upstream at the same second; failed scheduled runs are retried
    // `retry.count` times, `retry.backoff` doubling each time, then the mirror stays failed
    // until its next slot; `catch_up` runs a slot missed while the server was down at start.
    jitter: duration("schedule jitter").prefault("0s"),
    retry: z
      .object({
        count: z.number().int().min(0).max(20).default(2),
        backoff: duration("retry backoff of failed scheduled syncs").prefault("5m"),
      })
      .strict()
      .prefault({}),
    catch_up: z.boolean().default(true),
    // Lag past these shows as a warning / critical on the status page and in the API.
    lag_warn: duration("lag warning threshold").prefault("1d"),
    lag_critical: duration("lag critical threshold").prefault("3d"),
  })
  .strict();

export const configSchema = z
  .object({
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, "not host:port (e.g. 0.0.0.0:8080)")
      .default("0.0.0.0:8080"),
    public_url: httpUrl.optional(),
    data_dir: z.string().min(1).default("./data"),
    max_concurrent_syncs: z.number().int().min(1).default(2),
    gc_grace: duration("gc grace period").prefault("1h"),
    // Bound on the blobs fetched on demand (all mirrors together); least recently used go first.
    max_cache_size: size.optional(),
    // A file response whose client takes no bytes for this long is closed (nginx's send_timeout).
    send_timeout: duration("send timeout").prefault("60s"),
    // File responses (wheels, layers) sent at once, beyond which requests get 503 + Retry-After.
    max_file_responses: z.number().int().min(1).max(100_000).default(512),
    // Log level of the JSON lines on stderr; FRESHMIRROR_LOG_LEVEL overrides it.
    log_level: z.enum(LOG_LEVELS).default("info"),
    // One JSON line per HTTP request once it is answered (src/logging/access-log.ts).
    access_log: z.boolean().default(false),
    // Webhooks and commands fired by events (release.new, sync.failed, ...).
    hooks: hooksSchema.default([]),
    mirrors: z
      .record(z.string(), z.discriminatedUnion("type", [pypiMirrorSchema]))
      .default({})
      .superRefine((mirrors, ctx) => {
        for (const [name, mirror] of Object.entries(mirrors)) {
          const patterns = (mirror.indexes ?? []).filter(isIndexPattern);
          if (mirror.mode === "mirror" && patterns.length > 0) {
            ctx.addIssue({
              code: "custom",
              path: [name, "indexes"],
              message: `patterns (${patterns.map((p) => JSON.stringify(p)).join(", ")}) need mode: proxy; a sync needs concrete indexes such as "whl/cu121"`,
            });
          }
          if (!mirrorName.test(name) || RESERVED_NAMES.has(name)) {
            ctx.addIssue({
              code: "custom",
              path: [name],
              message: `not a usable mirror name: ${JSON.stringify(name)} (lower-case letters, digits, ".", "_", "-"; not one of ${[...RESERVED_NAMES].join(", ")})`,
            });
          }
        }
      }),
    // What the status page and /mirrorz.json say about this mirror site.
    site: z
      .object({
        name: z.string().min(1).optional(),
        abbr: z.string().min(1).optional(),
        email: z.string().min(1).optional(),
        note: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type RawConfig = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;
type ParsedPypiMirror = z.output<typeof pypiMirrorSchema>;

export interface PypiMirrorConfig {
  readonly name: string;
  readonly type: "pypi";
  /** The upstream URL, never with credentials (they are in `upstreamAuth`). */
  readonly upstream: string;
  /** Basic credentials for the upstream's origin; shown as "***" in JSON. */
  readonly upstreamAuth: UpstreamCredentials | undefined;
  readonly indexes: readonly string[];
  readonly mode: "mirror" | "proxy";
  readonly maxPageLinks: number;
  readonly projects: readonly string[] | undefined;
  /** Version specifiers by normalized project name; "*" applies to projects not named. */
  readonly versions: Readonly<Record<string, string>>;
  readonly platforms: readonly string[] | undefined;
  readonly python: readonly string[] | undefined;
  readonly keepLatest: number;
  readonly prereleases: boolean;
  readonly sdists: boolean;
  readonly yanked: boolean;
  readonly coreMetadata: boolean;
  readonly schedule: Schedule;
  readonly watchMs: number | undefined;
  readonly onMiss: "fetch" | "404";
  /** Hosts whose files this mirror may fetch: the upstream's own host plus `allow_hosts`. */
  readonly allowedHosts: readonly string[];
  readonly concurrency: number;
  readonly retries: number;
  readonly retryBackoffMs: number;
  readonly upstreamTimeoutMs: number;
  readonly indexTtlMs: number;
  readonly negativeTtlMs: number;
  readonly fillTimeoutMs: number;
  readonly maxFileSize: number;
  readonly abandonGraceMs: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly disabled: boolean;
  readonly paused: boolean;
  readonly description: string | undefined;
  readonly jitterMs: number;
  /** Retries of a failed scheduled sync: how many, and the first delay (doubling after). */
  readonly syncRetry: { readonly count: number; readonly backoffMs: number };
  readonly catchUp: boolean;
  readonly lagWarnMs: number;
  readonly lagCriticalMs: number;
}

export type MirrorConfig = PypiMirrorConfig;

export interface Config {
  readonly listen: { readonly host: string; readonly port: number };
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly maxConcurrentSyncs: number;
  readonly gcGraceMs: number;
  readonly maxCacheSize: number | undefined;
  readonly sendTimeoutMs: number;
  readonly maxFileResponses: number;
  readonly logLevel: LogLevel;
  readonly accessLog: boolean;
  readonly hooks: readonly HookConfig[];
  readonly mirrors: readonly MirrorConfig[];
  /** Where the config came from: a file path or "embedded default". */
  readonly source: string;
  /** Whether `public_url` was set (else it is derived from `listen`, and pages use the Host header). */
  readonly publicUrlConfigured: boolean;
  readonly site: {
    readonly name: string;
    readonly abbr: string;
    readonly email: string | undefined;
    readonly note: string | undefined;
  };
}

/**
 * The upstream's credentials: `username_env`/`password_env` read from the environment, or the
 * userinfo of the URL. Problems name the field and the variable, never a value.
 */
function resolveCredentials(
  name: string,
  raw: ParsedPypiMirror,
  env: NodeJS.ProcessEnv,
  problems: string[],
): { upstream: string; auth: UpstreamCredentials | undefined } {
  const split = splitUpstreamUrl(raw.upstream);
  const origin = new URL(split.url).origin;
  const where = `mirrors.${name}`;
  if (raw.username_env === undefined && raw.password_env === undefined) {
    const auth =
      split.userinfo && new UpstreamCredentials(split.userinfo.username, split.userinfo.password, origin);
    return { upstream: split.url, auth };
  }
  if (split.userinfo) {
    problems.push(
      `${where}.upstream: has user:password@ and ${where} also sets username_env/password_env; use one of them`,
    );
  }
  const read = (field: "username_env" | "password_env"): string => {
    const variable = raw[field];
    if (variable === undefined) {
      problems.push(`${where}.${field}: missing; username_env and password_env are set together`);
      return "";
    }
    const value = env[variable];
    if (value === undefined || value === "") {
      problems.push(`${where}.${field}: environment variable ${variable} is not set`);
      return "";
    }
    return value;
  };
  const username = read("username_env");
  const password = read("password_env");
  return { upstream: split.url, auth: new UpstreamCredentials(username, password, origin) };
}

function resolvePypiMirror(
  name: string,
  raw: ParsedPypiMirror,
  env: NodeJS.ProcessEnv,
  problems: string[],
): PypiMirrorConfig {
  const { upstream, auth } = resolveCredentials(name, raw, env, problems);
  const upstreamHost = new URL(upstream).host;
  return Object.freeze({
    name,
    type: "pypi",
    upstream,
    upstreamAuth: auth,
    indexes: Object.freeze([...(raw.indexes ?? (raw.mode === "proxy" ? [ANY_INDEX] : ["simple"]))]),
    mode: raw.mode,
    maxPageLinks: raw.max_page_links,
    projects: raw.projects && Object.freeze([...raw.projects]),
    versions: Object.freeze(
      typeof raw.versions === "string"
        ? { "*": raw.versions }
        : Object.fromEntries(
            Object.entries(raw.versions ?? {}).map(([p, v]) => [normalizeProjectName(p), v]),
          ),
    ),
    platforms: raw.platforms && Object.freeze([...raw.platforms]),
    python: raw.python && Object.freeze([...raw.python]),
    keepLatest: raw.keep_latest,
    prereleases: raw.prereleases,
    sdists: raw.sdists,
    yanked: raw.yanked,
    coreMetadata: raw.core_metadata,
    schedule: raw.schedule,
    watchMs: raw.watch,
    onMiss: raw.on_miss,
    allowedHosts: Object.freeze([...new Set([upstreamHost, ...raw.allow_hosts])]),
    concurrency: raw.concurrency,
    retries: raw.retries,
    retryBackoffMs: raw.retry_backoff,
    upstreamTimeoutMs: raw.upstream_timeout,
    indexTtlMs: raw.index_ttl,
    negativeTtlMs: raw.negative_ttl,
    fillTimeoutMs: raw.fill_timeout,
    maxFileSize: raw.max_file_size,
    abandonGraceMs: raw.abandon_grace,
    maxFails: raw.max_fails,
    failTimeoutMs: raw.fail_timeout,
    disabled: raw.disabled,
    paused: raw.paused,
    description: raw.description,
    jitterMs: raw.jitter,
    syncRetry: Object.freeze({ count: raw.retry.count, backoffMs: raw.retry.backoff }),
    catchUp: raw.catch_up,
    lagWarnMs: raw.lag_warn,
    lagCriticalMs: raw.lag_critical,
  });
}

export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(":");
  const host = listen.slice(0, at).replace(/^\[|\]$/g, "");
  return { host: host === "" ? "0.0.0.0" : host, port: Number(listen.slice(at + 1)) };
}

/** "MIRRORS" for http://mirrors.example.edu; "FRESHMIRROR" when the host is an address. */
function siteAbbr(publicUrl: string): string {
  const host = new URL(publicUrl).hostname;
  const label = /^[\d.]+$|[:[]/.test(host) || host === "localhost" ? "" : (host.split(".")[0] ?? "");
  return (label || "freshmirror").toUpperCase();
}

/** Resolves a validated config; `problems` receives what only the environment could tell (credentials). */
export function resolveConfig(
  parsed: ParsedConfig,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
  problems: string[] = [],
): Config {
  const listen = parseListen(parsed.listen);
  const shownHost = listen.host === "0.0.0.0" || listen.host === "::" ? "localhost" : listen.host;
  const publicUrl =
    parsed.public_url ?? `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${listen.port}`;
  return Object.freeze({
    listen: Object.freeze(listen),
    publicUrl,
    dataDir: parsed.data_dir,
    maxConcurrentSyncs: parsed.max_concurrent_syncs,
    gcGraceMs: parsed.gc_grace,
    maxCacheSize: parsed.max_cache_size,
    sendTimeoutMs: parsed.send_timeout,
    maxFileResponses: parsed.max_file_responses,
    logLevel: parsed.log_level,
    accessLog: parsed.access_log,
    hooks: parsed.hooks,
    mirrors: Object.freeze(
      Object.entries(parsed.mirrors).map(([name, raw]) => resolvePypiMirror(name, raw, env, problems)),
    ),
    source,
    publicUrlConfigured: parsed.public_url !== undefined,
    site: Object.freeze({
      name: parsed.site.name ?? "freshmirror",
      abbr: parsed.site.abbr ?? siteAbbr(publicUrl),
      email: parsed.site.email,
      note: parsed.site.note,
    }),
  });
}
