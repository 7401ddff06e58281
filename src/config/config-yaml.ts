// The resolved config written back the way an operator writes it (`freshmirror config check`):
// snake_case keys, `mirrors` keyed by name, durations as `10m` / `1h30m`, sizes as `20GiB`,
// `listen` as `host:port`, schedules as their cron expression or interval, `allow_hosts`
// without the upstream's own host (added at load), hook secrets and upstream passwords as "***".
// Every default is filled in, so this is what the server runs with; loading it back gives the
// same config (config-yaml.test.ts checks the round trip).
import { stringify } from "yaml";
import type { Config } from "./schema.js";

const DURATION_PARTS: [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/** `90000` → `1m30s`, `86400000` → `1d`, `0` → `0s`: what parseDuration reads back exactly. */
export function formatDurationSpec(ms: number): string {
  if (ms === 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const [unit, size] of DURATION_PARTS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

const SIZE_PARTS: [string, number][] = [
  ["TiB", 2 ** 40],
  ["GiB", 2 ** 30],
  ["MiB", 2 ** 20],
  ["KiB", 2 ** 10],
];

/** `21474836480` → `20GiB`; a size no binary unit divides stays a number of bytes. */
export function formatSizeSpec(bytes: number): string | number {
  for (const [unit, size] of SIZE_PARTS)
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return bytes;
}

/** Keys holding byte counts (the rest of the numbers are counts or already in their unit). */
const SIZE_KEYS = new Set(["maxFileSize", "maxCacheSize"]);
/** Resolved-only keys: where the config came from, and whether public_url was given. */
const INTERNAL_KEYS = new Set(["source", "publicUrlConfigured", "name"]);

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function userValue(key: string, value: unknown): [string, unknown] | undefined {
  if (value === undefined) return undefined;
  if (key.endsWith("Ms") && typeof value === "number")
    return [snake(key.slice(0, -2)), formatDurationSpec(value)];
  if (SIZE_KEYS.has(key) && typeof value === "number") return [snake(key), formatSizeSpec(value)];
  return [snake(key), userForm(value)];
}

/** Objects with snake_case keys, recursively; values with a `toJSON` (credentials) as it says. */
function userForm(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(userForm);
  if (value === null || typeof value !== "object") return value;
  // Patterns (`immutable_tags`) are written as their source text.
  if (value instanceof RegExp) return value.source;
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === "function") return userForm(json.call(value));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const entry = userValue(key, v);
    if (entry) out[entry[0]] = entry[1];
  }
  return out;
}

type Schedule = { kind: "cron"; expression: string } | { kind: "interval"; everyMs: number };

const scheduleForm = (s: Schedule) => (s.kind === "cron" ? s.expression : formatDurationSpec(s.everyMs));

function mirrorForm(mirror: Config["mirrors"][number]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const upstreamHost = (() => {
    try {
      return new URL(mirror.upstream).host;
    } catch {
      return undefined;
    }
  })();
  for (const [key, value] of Object.entries(mirror)) {
    if (INTERNAL_KEYS.has(key) || value === undefined) continue;
    if (key === "schedule") {
      out.schedule = scheduleForm(value as Schedule);
    } else if (key === "allowedHosts") {
      const extra = (value as string[]).filter((h) => h !== upstreamHost);
      if (extra.length > 0) out.allow_hosts = extra;
    } else if (key === "syncRetry") {
      const r = value as { count: number; backoffMs: number };
      out.retry = { count: r.count, backoff: formatDurationSpec(r.backoffMs) };
    } else if (key === "upstreamAuth") {
      // Read from username_env / password_env (or the URL) at load: shown, the password masked.
      out.upstream_auth = userForm(value);
    } else {
      const entry = userValue(key, value);
      if (entry) out[entry[0]] = entry[1];
    }
  }
  return out;
}

function hookForm(hook: Config["hooks"][number], index: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (hook.id !== `hooks[${index}]`) out.name = hook.id;
  out.on = [...hook.on];
  if (hook.mirror !== undefined) out.mirror = hook.mirror;
  if (hook.project !== undefined) out.project = hook.project;
  if (hook.versions !== undefined) out.versions = hook.versions;
  if (hook.kind === "webhook") {
    out.webhook = {
      url: hook.url,
      ...(hook.secretEnv !== undefined
        ? { secret_env: hook.secretEnv }
        : hook.secret !== undefined
          ? { secret: "***" }
          : {}),
      timeout: formatDurationSpec(hook.timeoutMs),
      retries: hook.retries,
    };
  } else {
    out.command = [...hook.command];
    out.timeout = formatDurationSpec(hook.timeoutMs);
    if (Object.keys(hook.env).length > 0) out.env = { ...hook.env };
  }
  return out;
}

/** The config as an operator would write it, every default filled in. */
export function configToUserForm(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (INTERNAL_KEYS.has(key) || value === undefined) continue;
    if (key === "listen") {
      const { host, port } = value as { host: string; port: number };
      out.listen = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    } else if (key === "publicUrl") {
      if (config.publicUrlConfigured) out.public_url = value;
    } else if (key === "gcSchedule") {
      out.gc_schedule = value === null ? "off" : scheduleForm(value as Schedule);
    } else if (key === "mirrors") {
      out.mirrors = Object.fromEntries(config.mirrors.map((m) => [m.name, mirrorForm(m)]));
    } else if (key === "hooks") {
      out.hooks = config.hooks.map(hookForm);
    } else {
      const entry = userValue(key, value);
      if (entry) out[entry[0]] = entry[1];
    }
  }
  return out;
}

/** The YAML `config check` prints. */
export function configToYaml(config: Config): string {
  return stringify(configToUserForm(config), { lineWidth: 0 });
}
