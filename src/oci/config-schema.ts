// The `type: oci` mirror entry: a registry mirrored by pull-through (and, with `images:`, pre-synced
// on a schedule). YAML keys in snake_case with defaults; the frozen camelCase config it resolves to.
// Generic fields and their parsers come from src/config.
import { z } from "zod";
import type { MirrorConfigBase } from "../config/base-mirror.js";
import {
  duration,
  envName,
  httpUrl,
  mirrorRunFields,
  resolveCredentials,
  resolveRunFields,
  schedule,
} from "../config/field-schemas.js";
import { parsePlatform } from "./platform.js";
import { validateName, validateTag } from "./reference.js";

/**
 * Tags never revalidated by default: a version number and a CUDA/cuDNN label, as in
 * `2.9.0-cuda12.8-cudnn9-runtime` or `12.8.0-cudnn-runtime-ubuntu22.04`. Publishers of such tags
 * do not move them; `latest`, `2.9-runtime` or `nightly` are revalidated after `tag_ttl`.
 */
export const DEFAULT_IMMUTABLE_TAGS = ["^(?=.*\\d+\\.\\d+)(?=.*(?:cuda|cudnn)).+$"] as const;

/** Docker Hub's registry API host; clients know the registry as `docker.io`. */
const DOCKER_HUB_HOSTS = new Set(["registry-1.docker.io", "index.docker.io", "registry.hub.docker.com"]);
export const DOCKER_HUB = "docker.io";

const regexSource = (what: string) =>
  z.string().superRefine((value, ctx) => {
    try {
      new RegExp(value);
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: `not a regular expression (${what}): ${(error as Error).message}`,
      });
    }
  });

/** One entry of an image's tag list: an exact tag, or `/regex/` matched against upstream's tags. */
const tagSelector = z.string().superRefine((value, ctx) => {
  if (value.length >= 2 && value.startsWith("/") && value.endsWith("/")) {
    try {
      new RegExp(value.slice(1, -1));
    } catch (error) {
      ctx.addIssue({ code: "custom", message: `not a regular expression: ${(error as Error).message}` });
    }
    return;
  }
  const bad = validateTag(value);
  if (bad) ctx.addIssue({ code: "custom", message: `${bad.message}; or write /regex/ to match tags` });
});

const registryName = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/,
    "not a registry host name (e.g. docker.io, ghcr.io, nvcr.io, registry.example.org:5000)",
  );

const platformString = z.string().superRefine((value, ctx) => {
  if (parsePlatform(value) === undefined)
    ctx.addIssue({
      code: "custom",
      message: `not a platform: ${JSON.stringify(value)}; use os/arch[/variant], e.g. linux/amd64`,
    });
});

export const ociMirrorSchema = z
  .object({
    type: z.literal("oci"),
    // The registry's API origin, e.g. https://registry-1.docker.io, https://ghcr.io.
    upstream: httpUrl,
    // The name clients know the registry by (containerd's `?ns=`); default the upstream's host.
    registry: registryName.optional(),
    username_env: envName.optional(),
    password_env: envName.optional(),
    // Omitted: "mirror" when `images:` lists images to pre-sync, else "proxy" (on demand only).
    mode: z.enum(["mirror", "proxy"]).optional(),
    // How long a tag's digest is served without asking upstream again (a HEAD, free on Docker Hub).
    tag_ttl: duration("tag ttl").prefault("10m"),
    // Tags matching any of these are never revalidated once known.
    immutable_tags: z.array(regexSource("immutable_tags")).default([...DEFAULT_IMMUTABLE_TAGS]),
    // Pre-sync: repository -> tags (exact, or /regex/), fetched on `schedule` and by `freshmirror sync`.
    images: z.record(z.string(), z.array(tagSelector).min(1)).default({}),
    // Pre-sync only these platforms of a multi-platform image (the index itself is kept whole).
    platforms: z.array(platformString).min(1).optional(),
    schedule: schedule.prefault("0 3 * * *"),
    watch: duration("watch interval").optional(),
    // Image layers are a few GB.
    ...mirrorRunFields({ upstreamTimeout: "30s", fillTimeout: "2h", maxFileSize: "50GiB" }),
  })
  .strict();

type ParsedOciMirror = z.output<typeof ociMirrorSchema>;

/** A tag selector of `images:`: one tag, or a pattern matched against the repository's tags. */
export type TagSelector =
  | { kind: "exact"; tag: string }
  | { kind: "pattern"; pattern: RegExp; source: string };

export interface OciMirrorConfig extends MirrorConfigBase {
  readonly type: "oci";
  /** The name clients know the registry by (`docker.io` for Docker Hub). */
  readonly registry: string;
  readonly tagTtlMs: number;
  readonly immutableTags: readonly RegExp[];
  /** Repository (as upstream names it: `library/ubuntu` on Docker Hub) -> tags to pre-sync. */
  readonly images: Readonly<Record<string, readonly TagSelector[]>>;
  /** Platforms to pre-sync (`linux/amd64`); undefined: all. */
  readonly platforms: readonly string[] | undefined;
}

/** The registry name clients use for an upstream URL: its host, `docker.io` for Docker Hub's API hosts. */
export function registryNameOf(upstream: string): string {
  const host = new URL(upstream).host;
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB : host;
}

/** A repository name as upstream knows it: Docker Hub's official images live under `library/`. */
export function upstreamRepository(registry: string, name: string): string {
  return registry === DOCKER_HUB && !name.includes("/") ? `library/${name}` : name;
}

export function ociMirrorProblems(
  name: string,
  mirror: ParsedOciMirror,
): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const repository of Object.keys(mirror.images)) {
    const bad = validateName(repository);
    if (bad) problems.push({ path: [name, "images", repository], message: bad.message });
  }
  if (mirror.mode === "mirror" && Object.keys(mirror.images).length === 0) {
    problems.push({
      path: [name, "mode"],
      message: "mode: mirror pre-syncs the images listed in `images:`, and none are listed",
    });
  }
  return problems;
}

/** Two mirrors may not answer to the same registry name (`?ns=` would be ambiguous). */
export function ociRegistryClashes(mirrors: readonly OciMirrorConfig[]): string[] {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const mirror of mirrors) {
    const first = seen.get(mirror.registry);
    if (first !== undefined) {
      problems.push(
        `mirrors.${mirror.name}.registry: "${mirror.registry}" is already the registry of mirror "${first}"; give one of them another registry name`,
      );
    } else seen.set(mirror.registry, mirror.name);
  }
  return problems;
}

function tagSelectorOf(value: string): TagSelector {
  const selector: TagSelector =
    value.length >= 2 && value.startsWith("/") && value.endsWith("/")
      ? { kind: "pattern", pattern: new RegExp(value.slice(1, -1)), source: value }
      : { kind: "exact", tag: value };
  // Shown (`config check`, JSON) as written: `2.9.0-cuda12.8-cudnn9-runtime` or `/^2\.9\./`.
  Object.defineProperty(selector, "toJSON", { value: () => value, enumerable: false });
  return selector;
}

export function resolveOciMirror(
  name: string,
  raw: ParsedOciMirror,
  env: NodeJS.ProcessEnv,
  problems: string[],
): OciMirrorConfig {
  const { upstream, auth } = resolveCredentials(name, raw, env, problems);
  const given = raw.registry ?? registryNameOf(upstream);
  const registry = DOCKER_HUB_HOSTS.has(given) ? DOCKER_HUB : given;
  const images = Object.fromEntries(
    Object.entries(raw.images).map(([repository, tags]) => [
      upstreamRepository(registry, repository),
      Object.freeze(tags.map(tagSelectorOf)),
    ]),
  );
  const hasImages = Object.keys(images).length > 0;
  return Object.freeze({
    name,
    type: "oci",
    upstream,
    upstreamAuth: auth,
    registry,
    mode: raw.mode ?? (hasImages ? "mirror" : "proxy"),
    tagTtlMs: raw.tag_ttl,
    immutableTags: Object.freeze(raw.immutable_tags.map((source) => new RegExp(source))),
    images: Object.freeze(images),
    platforms: raw.platforms && Object.freeze([...raw.platforms]),
    allowedHosts: Object.freeze([new URL(upstream).host]),
    schedule: raw.schedule,
    watchMs: raw.watch,
    ...resolveRunFields(raw),
  });
}
