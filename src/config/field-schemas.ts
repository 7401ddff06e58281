// Zod pieces every mirror schema uses: durations ("30s", "6h"), sizes ("20GiB"), http(s) URLs,
// schedules (cron or interval), environment variable names, and the upstream's credentials.
import { Cron } from "croner";
import { z } from "zod";
import type { Schedule } from "./base-mirror.js";
import { parseDuration, parseSize } from "./duration.js";
import { splitUpstreamUrl, UpstreamCredentials } from "./upstream-credentials.js";

export const duration = (what: string) =>
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

export const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = typeof value === "number" ? value : parseSize(value);
  if (bytes === null) {
    ctx.addIssue({ code: "custom", message: `not a size: ${JSON.stringify(value)}; use e.g. 500GiB, 2TB` });
    return z.NEVER;
  }
  return bytes;
});

export const httpUrl = z.string().transform((value, ctx) => {
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

function parseSchedule(value: string, ctx: z.RefinementCtx, also = ""): Schedule {
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
    message: `not a cron expression or interval: ${JSON.stringify(value)}; use 5 cron fields ("0 2 * * *") or an interval ("6h")${also}`,
  });
  return z.NEVER;
}

export const schedule = z.string().transform((value, ctx): Schedule => parseSchedule(value, ctx));

/** A schedule, or "off" (null). */
export const scheduleOrOff = z
  .string()
  .transform((value, ctx): Schedule | null =>
    value.trim() === "off" ? null : parseSchedule(value, ctx, ', or "off"'),
  );

export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name");

/**
 * The upstream's credentials: `username_env`/`password_env` read from the environment, or the
 * userinfo of the URL. Problems name the field and the variable, never a value.
 */
export function resolveCredentials(
  name: string,
  raw: { upstream: string; username_env?: string | undefined; password_env?: string | undefined },
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

/**
 * The fields every mirror kind shares past its upstream and selection: download limits and
 * retries, the circuit breaker, state, scheduling and lag thresholds. Each kind spreads them
 * into its schema with the defaults that suit what it downloads.
 */
export function mirrorRunFields(defaults: {
  upstreamTimeout: string;
  fillTimeout: string;
  maxFileSize: string;
}) {
  return {
    concurrency: z.number().int().min(1).max(64).default(4),
    retries: z.number().int().min(0).max(20).default(3),
    retry_backoff: duration("retry backoff").prefault("1s"),
    upstream_timeout: duration("upstream timeout").prefault(defaults.upstreamTimeout),
    fill_timeout: duration("fill timeout").prefault(defaults.fillTimeout),
    // Largest file this mirror downloads: refused up front when its declared size is larger,
    // stopped the moment more bytes arrive (an endless or hostile upstream body must not fill
    // the disk). torch CUDA wheels are ~2.5 GB, CUDA image layers a few GB.
    max_file_size: size.prefault(defaults.maxFileSize),
    // An on-demand download whose clients have all left goes on this long (a client that comes
    // back joins it), then is abandoned and its temp file deleted. Sync downloads never are.
    abandon_grace: duration("abandon grace").prefault("30s"),
    max_fails: z.number().int().min(1).default(5),
    fail_timeout: duration("fail timeout").prefault("30s"),
    disabled: z.boolean().default(false),
    paused: z.boolean().default(false),
    description: z.string().optional(),
    // Scheduling: a random delay up to `jitter` after each slot, so many mirrors on one cron line
    // do not hit upstream at the same second; failed scheduled runs are retried `retry.count`
    // times, `retry.backoff` doubling each time, then the mirror stays failed until its next
    // slot; `catch_up` runs a slot missed while the server was down at start.
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
  };
}

type RunFields = z.output<z.ZodObject<ReturnType<typeof mirrorRunFields>>>;

/** The camelCase config of the fields `mirrorRunFields` parsed. */
export function resolveRunFields(raw: RunFields) {
  return {
    concurrency: raw.concurrency,
    retries: raw.retries,
    retryBackoffMs: raw.retry_backoff,
    upstreamTimeoutMs: raw.upstream_timeout,
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
  };
}
