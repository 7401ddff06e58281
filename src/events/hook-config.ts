// The `hooks:` config list: what runs when an event happens. Each hook filters by event type,
// mirror, project and a version filter, then either POSTs the event to a webhook or runs
// a command given as an argv list (never a shell string, so a version or project name can never
// be read as shell syntax). Parsed once at config load into frozen, camelCase objects with
// durations in milliseconds. What `project` and `versions` mean (PEP 503 names and PEP 440
// specifiers for PyPI) is the business of the mirror's `SubjectMatcher`: the schema keeps them as
// written, `hookConfigProblems` checks `versions` with the matcher at config load, and the runner
// matches through the matcher of each event's mirror.
//
//   hooks:
//     - on: new_version            # alias of release.new; or a list, or "sync.*"
//       mirror: pytorch
//       project: torch
//       versions: ">=2.5"
//       command: ["docker", "build", "--build-arg", "TORCH_VERSION={version}", "."]
//       timeout: 30m
//     - on: [sync.failed]
//       webhook: { url: https://ci.example.edu/hook, secret_env: FM_HOOK_SECRET }
import { z } from "zod";
import { parseDuration } from "../config/duration.js";
import { type EventType, eventTypeNames, resolveEventTypes } from "./event-bus.js";
import type { SubjectMatcher } from "./subject-matcher.js";

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
export const DEFAULT_WEBHOOK_RETRIES = 5;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;

// Validation is a (non-aborting) refinement before each transform, so one bad field does not hide
// the problems the hook-level checks below find: every problem is reported together.
const duration = (what: string) =>
  z
    .union([z.string(), z.number()])
    .superRefine((value, ctx) => {
      const ms = typeof value === "number" ? value * 1000 : parseDuration(value);
      if (ms === null || !Number.isFinite(ms) || ms <= 0) {
        ctx.addIssue({
          code: "custom",
          message: `not a duration (${what}): ${JSON.stringify(value)}; use e.g. 10s, 10m, 1h`,
        });
      }
    })
    .transform((value) => (typeof value === "number" ? value * 1000 : (parseDuration(value) ?? 0)));

const eventNames = z
  .union([z.string(), z.array(z.string()).min(1)])
  .superRefine((value, ctx) => {
    for (const name of typeof value === "string" ? [value] : value) {
      if (resolveEventTypes(name) === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `unknown event ${JSON.stringify(name)}; use one of ${eventTypeNames().join(", ")}, "sync.*" or "*"`,
        });
      }
    }
  })
  .transform((value) => [
    ...new Set(
      (typeof value === "string" ? [value] : value).flatMap((name) => resolveEventTypes(name) ?? []),
    ),
  ]);

const httpUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `not a URL: ${JSON.stringify(value)}` });
    return;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `not an http(s) URL: ${JSON.stringify(value)}` });
  }
});

const webhookSchema = z
  .object({
    url: httpUrl,
    /** HMAC-SHA256 key for `X-Freshmirror-Signature`; better given through `secret_env`. */
    secret: z.string().min(1).optional(),
    /** Name of the environment variable holding the secret (read when a delivery is made). */
    secret_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name")
      .optional(),
    timeout: duration("webhook timeout").prefault("10s"),
    retries: z.number().int().min(0).max(20).default(DEFAULT_WEBHOOK_RETRIES),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.secret !== undefined && value.secret_env !== undefined) {
      ctx.addIssue({ code: "custom", path: ["secret_env"], message: "give secret or secret_env, not both" });
    }
  });

const hookSchema = z
  .object({
    /** Names the hook in the delivery log; default `hooks[<index>]`. */
    name: z.string().min(1).optional(),
    on: eventNames,
    mirror: z.string().min(1).optional(),
    project: z.string().min(1).optional(),
    // Checked against the mirror's matcher by `hookConfigProblems`.
    versions: z.string().optional(),
    webhook: webhookSchema.optional(),
    // A string is accepted here only to be rejected with a message saying why.
    command: z.union([z.string(), z.array(z.string()).min(1, "an empty command")]).optional(),
    timeout: duration("command timeout").optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"), z.string())
      .optional(),
  })
  .strict()
  .superRefine((hook, ctx) => {
    if (hook.webhook === undefined && hook.command === undefined) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message: "a hook needs webhook: {url: ...} or command: [argv...]",
      });
    }
    if (hook.webhook !== undefined && hook.command !== undefined) {
      ctx.addIssue({ code: "custom", path: ["command"], message: "a hook has webhook or command, not both" });
    }
    if (typeof hook.command === "string") {
      ctx.addIssue({
        code: "custom",
        path: ["command"],
        message: `must be an argv list, not a shell string: write ${JSON.stringify(hook.command.trim().split(/\s+/))} (no shell is run; wrap it in ["sh", "-c", "..."] only if you need one)`,
      });
    } else if (hook.command !== undefined && hook.command.length > 0 && hook.command[0] === "") {
      ctx.addIssue({ code: "custom", path: ["command", 0], message: "the program to run is empty" });
    }
    if (hook.webhook !== undefined) {
      if (hook.timeout !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["timeout"],
          message: "timeout here applies to commands; a webhook's goes under webhook.timeout",
        });
      }
      if (hook.env !== undefined) {
        ctx.addIssue({ code: "custom", path: ["env"], message: "env applies to command hooks only" });
      }
    }
    // `on` is still the raw input here when it had a problem of its own (reported above).
    if (
      hook.versions !== undefined &&
      Array.isArray(hook.on) &&
      hook.on.length > 0 &&
      !hook.on.some((t) => t === "release.new" || t === "image.updated")
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["versions"],
        message: `only release.new (new_version) and image.updated (a tag) events carry a version; this hook is on ${hook.on.join(", ")}`,
      });
    }
  });

interface HookCommon {
  /** `name`, or `hooks[<index>]`. */
  readonly id: string;
  readonly on: readonly EventType[];
  readonly mirror: string | undefined;
  /** As written; compared through the matcher's `normalizeName` (PEP 503 for PyPI). */
  readonly project: string | undefined;
  /** The version filter as written (a PEP 440 specifier set for PyPI). */
  readonly versions: string | undefined;
}

export interface WebhookHookConfig extends HookCommon {
  readonly kind: "webhook";
  readonly url: string;
  readonly secret: string | undefined;
  readonly secretEnv: string | undefined;
  readonly timeoutMs: number;
  /** Extra attempts after the first. */
  readonly retries: number;
}

export interface CommandHookConfig extends HookCommon {
  readonly kind: "command";
  /** argv; `{mirror}` `{project}` `{version}` `{event}` are substituted per argument. */
  readonly command: readonly string[];
  readonly timeoutMs: number;
  readonly env: Readonly<Record<string, string>>;
}

export type HookConfig = WebhookHookConfig | CommandHookConfig;

type ParsedHook = z.output<typeof hookSchema>;

function resolveHook(raw: ParsedHook, index: number): HookConfig {
  const common: HookCommon = {
    id: raw.name ?? `hooks[${index}]`,
    on: Object.freeze([...raw.on]),
    mirror: raw.mirror,
    project: raw.project,
    versions: raw.versions,
  };
  if (raw.webhook !== undefined) {
    return Object.freeze({
      ...common,
      kind: "webhook",
      url: raw.webhook.url,
      secret: raw.webhook.secret,
      secretEnv: raw.webhook.secret_env,
      timeoutMs: raw.webhook.timeout,
      retries: raw.webhook.retries,
    });
  }
  return Object.freeze({
    ...common,
    kind: "command",
    command: Object.freeze([...(raw.command as string[])]),
    timeoutMs: raw.timeout ?? DEFAULT_COMMAND_TIMEOUT_MS,
    env: Object.freeze({ ...(raw.env ?? {}) }),
  });
}

/**
 * The `hooks:` list: validates every hook (errors carry paths such as `[1].command`) and resolves
 * them to frozen `HookConfig`s. Mount it in the config schema as `hooks: hooksSchema.default([])`.
 */
export const hooksSchema = z
  .array(hookSchema)
  .superRefine((hooks, ctx) => {
    const seen = new Map<string, number>();
    hooks.forEach((hook, index) => {
      if (hook.name === undefined) return;
      const first = seen.get(hook.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [index, "name"],
          message: `hook name ${JSON.stringify(hook.name)} is already used by hooks[${first}]`,
        });
      } else seen.set(hook.name, index);
    });
  })
  .transform((hooks): readonly HookConfig[] => Object.freeze(hooks.map(resolveHook)));

export type RawHooks = z.input<typeof hooksSchema>;

/**
 * The problems of each hook's `versions` filter, checked by the matcher of the hook's `mirror` (or
 * `matcherFor(undefined)` for a hook on every mirror), each with its field path:
 * `hooks[1].versions: not a PEP 440 specifier: "=>2.5"`. Takes the raw `hooks:` value as well as
 * resolved hooks, so the config loader can report these together with the schema's problems.
 */
export function hookConfigProblems(
  hooks: unknown,
  matcherFor: (mirror: string | undefined) => SubjectMatcher,
): string[] {
  if (!Array.isArray(hooks)) return [];
  const problems: string[] = [];
  hooks.forEach((hook: unknown, index) => {
    if (typeof hook !== "object" || hook === null) return;
    const { mirror, versions } = hook as { mirror?: unknown; versions?: unknown };
    if (typeof versions !== "string") return;
    const matcher = matcherFor(typeof mirror === "string" && mirror !== "" ? mirror : undefined);
    const problem = matcher.versionSpecProblem(versions);
    if (problem !== undefined) problems.push(`hooks[${index}].versions: ${problem}`);
  });
  return problems;
}

/**
 * Whether an event's version passes the hook's `versions` filter, as `matcher` (that of the event's
 * mirror) reads it: true when the hook has none or the event has no version (sync events).
 */
export function hookVersionMatches(
  hook: HookConfig,
  version: string | undefined,
  matcher: SubjectMatcher,
): boolean {
  if (hook.versions === undefined || version === undefined) return true;
  // A filter this mirror's kind does not read (a hook on every mirror) matches none of its events.
  if (matcher.versionSpecProblem(hook.versions) !== undefined) return false;
  return matcher.versionMatches(hook.versions, version);
}
