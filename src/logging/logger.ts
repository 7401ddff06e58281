// The server's log: pino, one JSON object per line on stderr. JSON lines are what log tools read
// without a parser of their own (Loki/promtail, Vector, Fluent Bit, Elastic's filebeat); a
// human reads them with `jq` or `pino-pretty`. stdout stays for what commands print for users
// (tables, reports, --json): that is output, not log.
//
// Created once per process by the CLI (src/cli/open-app.ts) and handed to what logs; the level
// comes from FRESHMIRROR_LOG_LEVEL, else the config's `log_level`, else info.
//
// Errors and logs never carry credentials: `err` and `url` fields go through the same redaction
// as error messages (src/upstream/redact-url.ts), so `logger.error({ err, url }, ...)` is safe
// with any error or URL.
import { pino } from "pino";
import { ConfigError } from "../errors.js";
import { redactText, redactUrl } from "../upstream/redact-url.js";

export type Logger = pino.Logger;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  /** Default info. */
  level?: LogLevel;
  /** Where lines go; default stderr (written synchronously, so nothing is lost on exit). */
  destination?: { write(line: string): unknown };
}

/** An error as a log field: pino's standard shape (type, message, stack, code, cause...), redacted. */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return redactText(String(error));
  const plain = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  return redactFields(plain, 0);
}

function redactFields(value: unknown, depth: number): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value !== "object" || value === null || depth > 4) return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = redactFields(v, depth + 1);
  return out;
}

function serializeUrl(url: unknown): unknown {
  return typeof url === "string" ? redactUrl(url) : url;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      // ISO times: what people and log tools read without converting epoch milliseconds.
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError, error: serializeError, url: serializeUrl },
      // The level's name ("info"), not pino's number (30): readable, and what Loki labels expect.
      formatters: { level: (label) => ({ level: label }) },
    },
    (options.destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 2, sync: true }),
  );
}

/**
 * The level to log at: FRESHMIRROR_LOG_LEVEL wins over the config's `log_level`. An unknown
 * level in the environment is an error naming it (the config's is checked by its schema).
 */
export function logLevelFrom(
  env: Record<string, string | undefined>,
  configured: LogLevel | undefined,
): LogLevel {
  const fromEnv = env.FRESHMIRROR_LOG_LEVEL;
  if (fromEnv === undefined || fromEnv === "") return configured ?? "info";
  const level = fromEnv.trim().toLowerCase();
  if (!isLogLevel(level))
    throw new ConfigError(
      [
        `FRESHMIRROR_LOG_LEVEL: not a log level: ${JSON.stringify(fromEnv)} (one of ${LOG_LEVELS.join(", ")})`,
      ],
      "environment",
    );
  return level;
}

let fallback: Logger | undefined;

/**
 * For parts constructed without a logger (library use, unit tests): a stderr logger at info,
 * made on first use. The CLI always injects its own.
 */
export function fallbackLogger(): Logger {
  fallback ??= createLogger();
  return fallback;
}
