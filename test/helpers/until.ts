// Waiting on a condition instead of sleeping a fixed time: as fast as the condition allows, and
// no flaky failure when a loaded machine makes it take longer than a guess.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `check` (sync or async) every `everyMs` until it returns a truthy value, and returns that
 * value; fails the test naming `what` when `timeoutMs` passes first.
 */
export async function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * The sum of a Prometheus counter or gauge from a running server's /metrics over the series
 * whose labels include `labels` (0 when there is none).
 */
export async function metricSum(
  baseUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const series = match[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => series.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}
