// The `type: pypi` mirror entry: its YAML keys (snake_case) with defaults, and the frozen
// camelCase config it resolves to. Generic fields and their parsers come from src/config.
import { z } from "zod";
import type { MirrorConfigBase } from "../config/base-mirror.js";
import { closestName } from "../config/config-checks.js";
import {
  duration,
  envName,
  httpUrl,
  mirrorRunFields,
  resolveCredentials,
  resolveRunFields,
  schedule,
} from "../config/field-schemas.js";
import { ANY_INDEX, indexEntryProblem, isIndexPattern } from "./index-pattern.js";
import { parseSpecifierSet } from "./pep440-specifier.js";
import { normalizeProjectName } from "./project-page.js";

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
    ...mirrorRunFields({ upstreamTimeout: "10s", fillTimeout: "30m", maxFileSize: "20GiB" }),
    index_ttl: duration("index ttl").prefault("10m"),
    negative_ttl: duration("negative ttl").prefault("1m"),
  })
  .strict();

type ParsedPypiMirror = z.output<typeof pypiMirrorSchema>;

export interface PypiMirrorConfig extends MirrorConfigBase {
  readonly type: "pypi";
  readonly indexes: readonly string[];
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
  readonly onMiss: "fetch" | "404";
  readonly indexTtlMs: number;
  readonly negativeTtlMs: number;
}

/** Problems across fields of one entry (paths under `mirrors.<name>`). */
export function pypiMirrorProblems(
  name: string,
  mirror: ParsedPypiMirror,
): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const patterns = (mirror.indexes ?? []).filter(isIndexPattern);
  if (mirror.mode === "mirror" && patterns.length > 0) {
    problems.push({
      path: [name, "indexes"],
      message: `patterns (${patterns.map((p) => JSON.stringify(p)).join(", ")}) need mode: proxy; a sync needs concrete indexes such as "whl/cu121"`,
    });
  }
  // A `versions` key for a project the mirror does not carry is a typo that would match nothing.
  if (mirror.projects !== undefined && mirror.versions !== undefined && typeof mirror.versions !== "string") {
    const carried = mirror.projects.map(normalizeProjectName);
    for (const key of Object.keys(mirror.versions)) {
      if (key === "*" || carried.includes(normalizeProjectName(key))) continue;
      const near = closestName(normalizeProjectName(key), carried);
      problems.push({
        path: [name, "versions", key],
        message: `not one of this mirror's projects (${mirror.projects.join(", ")})${near ? `; did you mean "${near}"?` : ""}`,
      });
    }
  }
  return problems;
}

export function resolvePypiMirror(
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
    ...resolveRunFields(raw),
    indexTtlMs: raw.index_ttl,
    negativeTtlMs: raw.negative_ttl,
  });
}
