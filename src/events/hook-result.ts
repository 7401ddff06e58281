// What one hook did for one event, after its last attempt: what the runner resolves with, hands to
// `onResult` (the run log), and what webhook delivery and command execution both produce.
import type { FreshmirrorEvent } from "./event-bus.js";

export interface HookResult {
  hook: string;
  kind: "webhook" | "command";
  event: FreshmirrorEvent;
  delivery: string;
  ok: boolean;
  attempts: number;
  durationMs: number;
  status?: number;
  exitCode?: number;
  signal?: string;
  timedOut?: boolean;
  error?: string;
  /** A command's stdout and stderr, interleaved, at most the last `outputLimitBytes`. */
  output?: string;
  /** The argv a command ran, placeholders substituted. */
  argv?: string[];
}

/** A failure as one line for a result or the delivery log: the message, led by its code if any. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}
