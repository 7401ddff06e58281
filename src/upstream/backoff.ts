// The one retry backoff: exponential, capped, with "equal jitter" — the delay for attempt n is
// drawn from [d/2, d] where d = min(max, base * 2^n), so clients that failed together do not all
// retry together, yet every retry still waits at least half the nominal delay.
// https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
// Waiting itself is `setTimeout` from node:timers/promises (with an AbortSignal where a wait must
// end early), not a hand-rolled sleep.

export interface BackoffOptions {
  /** The nominal delay before the first retry (attempt 0); doubled for each further attempt. */
  baseMs: number;
  /** Upper bound of the nominal delay. Default 30 s (upstream retries); Infinity for none. */
  maxMs?: number;
  /** Draw from [d/2, d] instead of waiting exactly d. Default true; off where exact times are promised. */
  jitter?: boolean;
  /** For tests; default Math.random. */
  random?: () => number;
}

export const DEFAULT_MAX_BACKOFF_MS = 30_000;

/** Milliseconds to wait before retry `attempt` (0-based: the wait after the first failure is attempt 0). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  const base = Math.max(0, options.baseMs);
  const max = options.maxMs ?? DEFAULT_MAX_BACKOFF_MS;
  // 2 ** n overflows to Infinity for a huge n; min() with the cap keeps the result finite when capped.
  const nominal = Math.min(max, base * 2 ** n);
  if (options.jitter === false) return nominal;
  const random = options.random ?? Math.random;
  return nominal / 2 + random() * (nominal / 2);
}
