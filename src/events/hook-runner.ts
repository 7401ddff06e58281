// Delivers events to the hooks that match them: subscribes to the bus, picks the hooks whose
// filters accept each event (names and versions read by the matcher of the event's mirror), and
// runs them one event at a time per hook, in event order, each (hook, event) once. Webhooks are
// delivered by webhook-delivery.ts, commands run by command-hook.ts. Nothing here throws into the
// caller: a failing or hanging hook is recorded in the delivery log (a ring in memory and
// `<data_dir>/logs/hooks.log`, JSON lines) and the sync goes on.
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fallbackLogger, type Logger } from "../logging/logger.js";
import { killGroup, runCommandHook } from "./command-hook.js";
import { DeliveryLog, type DeliveryLogEntry } from "./delivery-log.js";
import { type EventBus, eventSubject, type FreshmirrorEvent } from "./event-bus.js";
import { type HookConfig, hookVersionMatches } from "./hook-config.js";
import { errorText, type HookResult } from "./hook-result.js";
import type { SubjectMatcher } from "./subject-matcher.js";
import { deliverWebhook } from "./webhook-delivery.js";

export type { DeliveryLogEntry } from "./delivery-log.js";
export type { HookResult } from "./hook-result.js";

export interface HookRunnerOptions {
  /** The matcher for events of a mirror (its kind's names and versions); `undefined`: no mirror. */
  matcherFor: (mirror: string | undefined) => SubjectMatcher;
  /** Append-only JSON-lines delivery log, normally `<data_dir>/logs/hooks.log`; none when undefined. */
  logFile?: string;
  /** Delivery log entries kept in memory. Default 1000. */
  logCapacity?: number;
  /** First webhook retry delay; doubled on each retry. Default 1000 ms. */
  backoffBaseMs?: number;
  /** Longest delay between webhook attempts. Default 5 min. */
  maxBackoffMs?: number;
  /** Environment commands inherit and `secret_env` is read from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of commands. Default `process.cwd()`. */
  cwd?: string;
  /** Output kept per command run (its last bytes). Default 64 KiB. */
  outputLimitBytes?: number;
  /** Between SIGTERM and SIGKILL when a command times out. Default 5 s. */
  killGraceMs?: number;
  /** Called once per finished delivery (after the last attempt), e.g. to append to the run log. */
  onResult?: (result: HookResult) => void;
  /** Where problems of the runner itself (log file unwritable) are reported. Default: a stderr logger. */
  logger?: Logger;
}

const SEEN_LIMIT = 10_000;

/**
 * Whether a hook's filters (`on`, `mirror`, `project`, `versions`) accept an event; the project
 * and version compare as the matcher of the event's mirror reads them.
 */
export function hookMatches(
  hook: HookConfig,
  event: FreshmirrorEvent,
  matcherFor: (mirror: string | undefined) => SubjectMatcher,
): boolean {
  if (!hook.on.includes(event.type)) return false;
  const subject = eventSubject(event);
  if (hook.mirror !== undefined && hook.mirror !== subject.mirror) return false;
  const matcher = matcherFor(subject.mirror);
  if (hook.project !== undefined) {
    // A hook for one project does not fire for events about a whole mirror.
    if (
      subject.project === undefined ||
      matcher.normalizeName(subject.project) !== matcher.normalizeName(hook.project)
    )
      return false;
  }
  return hookVersionMatches(hook, subject.version, matcher);
}

export class HookRunner {
  readonly hooks: readonly HookConfig[];
  readonly #options: HookRunnerOptions;
  readonly #log: DeliveryLog;
  // Per hook, the tail of its queue: one hook handles one event at a time, in event order.
  readonly #queues = new Map<string, Promise<unknown>>();
  // (hook, event) already dispatched, so a replayed event does not run a hook twice.
  readonly #seen = new Map<string, Promise<HookResult>>();
  readonly #inFlight = new Set<Promise<HookResult>>();
  readonly #children = new Set<ChildProcess>();
  readonly #closing = new AbortController();

  constructor(hooks: readonly HookConfig[], options: HookRunnerOptions) {
    this.hooks = hooks;
    this.#options = options;
    this.#log = new DeliveryLog({
      file: options.logFile,
      capacity: options.logCapacity ?? 1000,
      onError: (message) => this.#reportError(message),
    });
  }

  /** Runs matching hooks for every event `bus` emits from now on; returns the unsubscribe function. */
  attach(bus: EventBus): () => void {
    return bus.subscribe((event) => {
      void this.dispatch(event);
    });
  }

  /** The hooks whose filters accept `event`. */
  matching(event: FreshmirrorEvent): HookConfig[] {
    return this.hooks.filter((hook) => hookMatches(hook, event, this.#options.matcherFor));
  }

  /**
   * Delivers `event` to every matching hook (each once, however often it is dispatched); resolves
   * with their results when all have finished. Never rejects.
   */
  dispatch(event: FreshmirrorEvent): Promise<HookResult[]> {
    if (this.#closing.signal.aborted) return Promise.resolve([]);
    return Promise.all(this.matching(event).map((hook) => this.#enqueue(hook, event)));
  }

  /** Delivery log entries in memory, oldest first. */
  deliveries(): DeliveryLogEntry[] {
    return this.#log.entries();
  }

  /** Resolves when every delivery started so far has finished (and the log file is written). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    await this.#log.flushed();
  }

  /** Stops retries and backoff waits, kills running commands, and waits for all to settle. */
  async close(): Promise<void> {
    this.#closing.abort();
    for (const child of this.#children) killGroup(child, "SIGTERM");
    await this.idle();
  }

  #enqueue(hook: HookConfig, event: FreshmirrorEvent): Promise<HookResult> {
    const key = `${hook.id}\0${event.id}\0${event.time}`;
    const existing = this.#seen.get(key);
    if (existing !== undefined) return existing;
    const delivery = randomUUID();
    const previous = this.#queues.get(hook.id) ?? Promise.resolve();
    const run = previous.then(() => this.#deliver(hook, event, delivery));
    this.#queues.set(hook.id, run);
    this.#seen.set(key, run);
    if (this.#seen.size > SEEN_LIMIT) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#inFlight.add(run);
    void run.finally(() => {
      this.#inFlight.delete(run);
      if (this.#queues.get(hook.id) === run) this.#queues.delete(hook.id);
    });
    return run;
  }

  async #deliver(hook: HookConfig, event: FreshmirrorEvent, delivery: string): Promise<HookResult> {
    const options = this.#options;
    const env = options.env ?? process.env;
    const record = this.#log.record.bind(this.#log);
    const closing = this.#closing.signal;
    let result: HookResult;
    try {
      result =
        hook.kind === "webhook"
          ? await deliverWebhook(hook, event, delivery, {
              env,
              backoffBaseMs: options.backoffBaseMs ?? 1000,
              maxBackoffMs: options.maxBackoffMs ?? 5 * 60_000,
              closing,
              record,
            })
          : await runCommandHook(hook, event, delivery, {
              env,
              cwd: options.cwd,
              outputLimitBytes: options.outputLimitBytes ?? 64 * 1024,
              killGraceMs: options.killGraceMs ?? 5000,
              closing,
              children: this.#children,
              record,
            });
    } catch (error) {
      // Not expected (every failure above is caught and recorded), but a hook must never throw.
      result = {
        hook: hook.id,
        kind: hook.kind,
        event,
        delivery,
        ok: false,
        attempts: 0,
        durationMs: 0,
        error: errorText(error),
      };
    }
    try {
      options.onResult?.(result);
    } catch (error) {
      this.#reportError(`hook result callback failed: ${errorText(error)}`);
    }
    return result;
  }

  #reportError(message: string): void {
    try {
      (this.#options.logger ?? fallbackLogger()).error(`hooks: ${message}`);
    } catch {
      // Nothing left to tell.
    }
  }
}
