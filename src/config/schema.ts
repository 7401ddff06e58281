// The config schema: YAML keys in snake_case as mirror operators expect, every field with a
// default, validated once at start-up into a frozen, typed, camelCase object with durations and
// sizes already parsed. Errors name the field path and what was expected.
import { z } from "zod";
import { type HookConfig, hooksSchema } from "../events/hook-config.js";
import { LOG_LEVELS, type LogLevel } from "../logging/logger.js";
import type { MirrorConfigBase, Schedule } from "./base-mirror.js";
import { duration, httpUrl, scheduleOrOff, size } from "./field-schemas.js";
import type { MirrorSchemaKind } from "./mirror-schema-kind.js";

export type { Schedule } from "./base-mirror.js";

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

/** The whole config's schema, with `mirrors:` entries of the given kinds (told apart by `type`). */
function buildConfigSchema(kinds: readonly MirrorSchemaKind[]) {
  const mirrorSchemas = kinds.map((kind) => kind.schema);
  return z
    .object({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, "not host:port (e.g. 0.0.0.0:8080)")
        .default("0.0.0.0:8080"),
      public_url: httpUrl.optional(),
      data_dir: z.string().min(1).default("./data"),
      max_concurrent_syncs: z.number().int().min(1).default(2),
      gc_grace: duration("gc grace period").prefault("1h"),
      // When `serve` runs gc (cron in local time, or an interval); "off": only `freshmirror gc`.
      gc_schedule: scheduleOrOff.prefault("15 3 * * *"),
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
        .record(
          z.string(),
          z.discriminatedUnion("type", mirrorSchemas as unknown as [(typeof mirrorSchemas)[number]]),
        )
        .default({})
        .superRefine((mirrors, ctx) => {
          for (const [name, mirror] of Object.entries(mirrors)) {
            const kind = kinds.find((k) => k.type === mirror.type);
            for (const issue of kind?.check?.(name, mirror) ?? []) ctx.addIssue({ code: "custom", ...issue });
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
}

const schemas = new WeakMap<readonly MirrorSchemaKind[], ReturnType<typeof buildConfigSchema>>();

/** The config schema for these kinds (built once per kinds list). */
export function configSchemaFor(kinds: readonly MirrorSchemaKind[]): ReturnType<typeof buildConfigSchema> {
  let schema = schemas.get(kinds);
  if (schema === undefined) {
    schema = buildConfigSchema(kinds);
    schemas.set(kinds, schema);
  }
  return schema;
}

type Schema = ReturnType<typeof buildConfigSchema>;
export type RawConfig = z.input<Schema>;
/** The validated YAML, before resolving; a mirror entry is its kind's parsed entry. */
export type ParsedConfig = Omit<z.output<Schema>, "mirrors"> & {
  mirrors: Record<string, { type: string } & Record<string, unknown>>;
};

/** A mirror of any kind, as the generic parts see it; kinds narrow it by `type`. */
export type MirrorConfig = MirrorConfigBase;

export interface Config {
  readonly listen: { readonly host: string; readonly port: number };
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly maxConcurrentSyncs: number;
  readonly gcGraceMs: number;
  /** When `serve` collects garbage; null: never (only `freshmirror gc`). */
  readonly gcSchedule: Schedule | null;
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
  kinds: readonly MirrorSchemaKind[],
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
    gcSchedule: parsed.gc_schedule,
    maxCacheSize: parsed.max_cache_size,
    sendTimeoutMs: parsed.send_timeout,
    maxFileResponses: parsed.max_file_responses,
    logLevel: parsed.log_level,
    accessLog: parsed.access_log,
    hooks: parsed.hooks,
    mirrors: Object.freeze(resolveMirrors(parsed, kinds, env, problems)),
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

function resolveMirrors(
  parsed: ParsedConfig,
  kinds: readonly MirrorSchemaKind[],
  env: NodeJS.ProcessEnv,
  problems: string[],
): MirrorConfig[] {
  const mirrors: MirrorConfig[] = [];
  for (const [name, raw] of Object.entries(parsed.mirrors)) {
    const kind = kinds.find((k) => k.type === raw.type);
    if (kind === undefined) {
      problems.push(`mirrors.${name}.type: no mirror kind "${raw.type}"`);
      continue;
    }
    mirrors.push(kind.resolve(name, raw, env, problems));
  }
  for (const kind of kinds) {
    if (kind.checkAll === undefined) continue;
    problems.push(...kind.checkAll(mirrors.filter((m) => m.type === kind.type)));
  }
  return mirrors;
}
