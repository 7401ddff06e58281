// Delivers events to the hooks that match them. A webhook gets the event as a JSON POST, signed
// with HMAC-SHA256 when it has a secret, retried with exponential backoff on network errors,
// timeouts and 5xx/408/429. A command runs as an argv list (no shell) with the event's fields
// substituted into `{mirror}` `{project}` `{version}` `{event}` and given in FRESHMIRROR_*
// variables; at its timeout its whole process group gets SIGTERM, then SIGKILL. Nothing here
// throws into the caller: a failing or hanging hook is recorded in the delivery log (a ring in
// memory and `<data_dir>/logs/hooks.log`, JSON lines) and the sync goes on.
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { fallbackLogger, type Logger } from "../logging/logger.js";
import { normalizeProjectName } from "../pypi/project-page.js";
import { backoffDelay } from "../upstream/backoff.js";
import { type EventBus, eventSubject, type FreshmirrorEvent } from "./event-bus.js";
import {
  type CommandHookConfig,
  type HookConfig,
  hookVersionMatches,
  type WebhookHookConfig,
} from "./hook-config.js";

export interface HookRunnerOptions {
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

/** One attempt, as written to the delivery log. */
export interface DeliveryLogEntry {
  time: string;
  hook: string;
  kind: "webhook" | "command";
  event: number;
  eventType: FreshmirrorEvent["type"];
  /** The same for every attempt of one delivery (the webhook's `X-Freshmirror-Delivery`). */
  delivery: string;
  attempt: number;
  ok: boolean;
  /** HTTP status of a webhook attempt that got an answer. */
  status?: number;
  /** A command's exit code, or the signal that ended it. */
  exitCode?: number;
  signal?: string;
  timedOut?: boolean;
  error?: string;
  durationMs: number;
  /** Whether another attempt follows. */
  retrying: boolean;
}

/** The outcome of one hook for one event, after its last attempt. */
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

interface AttemptOutcome {
  ok: boolean;
  retryable: boolean;
  status?: number;
  error?: string;
}

const SEEN_LIMIT = 10_000;
const USER_AGENT = "freshmirror-hooks";

/** Substitutes `{mirror}` `{project}` `{version}` `{event}` in one argument; other braces stay. */
export function substitutePlaceholders(arg: string, event: FreshmirrorEvent): string {
  const subject = eventSubject(event);
  const values: Record<string, string> = {
    mirror: subject.mirror,
    project: subject.project ?? "",
    version: subject.version ?? "",
    event: event.type,
  };
  return arg.replace(/\{(mirror|project|version|event)\}/g, (_, name: string) => values[name] ?? "");
}

/** The `X-Freshmirror-Signature` value for a body: `sha256=<hex HMAC-SHA256>`. */
export function signBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Whether a hook's filters (`on`, `mirror`, `project`, `versions`) accept an event. */
export function hookMatches(hook: HookConfig, event: FreshmirrorEvent): boolean {
  if (!hook.on.includes(event.type)) return false;
  const subject = eventSubject(event);
  if (hook.mirror !== undefined && hook.mirror !== subject.mirror) return false;
  if (hook.project !== undefined) {
    // A hook for one project does not fire for events about a whole mirror.
    if (subject.project === undefined || normalizeProjectName(subject.project) !== hook.project) return false;
  }
  return hookVersionMatches(hook, subject.version);
}

/** Keeps the last `limit` bytes written. */
class OutputTail {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #dropped = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size > this.#limit && this.#chunks.length > 0) {
      const first = this.#chunks[0] as Buffer;
      const excess = this.#size - this.#limit;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
        this.#dropped += first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#size -= excess;
        this.#dropped += excess;
      }
    }
  }

  toString(): string {
    const text = Buffer.concat(this.#chunks).toString("utf8");
    return this.#dropped > 0 ? `[… ${this.#dropped} earlier bytes not kept]\n${text}` : text;
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

export class HookRunner {
  readonly hooks: readonly HookConfig[];
  readonly #options: HookRunnerOptions;
  readonly #log: DeliveryLogEntry[] = [];
  readonly #logCapacity: number;
  // Per hook, the tail of its queue: one hook handles one event at a time, in event order.
  readonly #queues = new Map<string, Promise<unknown>>();
  // (hook, event) already dispatched, so a replayed event does not run a hook twice.
  readonly #seen = new Map<string, Promise<HookResult>>();
  readonly #inFlight = new Set<Promise<HookResult>>();
  readonly #children = new Set<ChildProcess>();
  readonly #closing = new AbortController();
  #logWrite: Promise<void> = Promise.resolve();
  #logDirReady: Promise<unknown> | undefined;

  constructor(hooks: readonly HookConfig[], options: HookRunnerOptions = {}) {
    this.hooks = hooks;
    this.#options = options;
    this.#logCapacity = Math.max(1, options.logCapacity ?? 1000);
  }

  /** Runs matching hooks for every event `bus` emits from now on; returns the unsubscribe function. */
  attach(bus: EventBus): () => void {
    return bus.subscribe((event) => {
      void this.dispatch(event);
    });
  }

  /** The hooks whose filters accept `event`. */
  matching(event: FreshmirrorEvent): HookConfig[] {
    return this.hooks.filter((hook) => hookMatches(hook, event));
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
    return [...this.#log];
  }

  /** Resolves when every delivery started so far has finished (and the log file is written). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    await this.#logWrite;
  }

  /** Stops retries and backoff waits, kills running commands, and waits for all to settle. */
  async close(): Promise<void> {
    this.#closing.abort();
    for (const child of this.#children) this.#killGroup(child, "SIGTERM");
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
    let result: HookResult;
    try {
      result =
        hook.kind === "webhook"
          ? await this.#deliverWebhook(hook, event, delivery)
          : await this.#runCommand(hook, event, delivery);
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
      this.#options.onResult?.(result);
    } catch (error) {
      this.#reportError(`hook result callback failed: ${errorText(error)}`);
    }
    return result;
  }

  async #deliverWebhook(
    hook: WebhookHookConfig,
    event: FreshmirrorEvent,
    delivery: string,
  ): Promise<HookResult> {
    const started = Date.now();
    const body = JSON.stringify(event);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "x-freshmirror-event": event.type,
      "x-freshmirror-delivery": delivery,
    };
    const env = this.#options.env ?? process.env;
    const secret = hook.secret ?? (hook.secretEnv === undefined ? undefined : env[hook.secretEnv]);
    const base = { hook: hook.id, kind: "webhook" as const, event, delivery };
    if (hook.secretEnv !== undefined && (secret === undefined || secret === "")) {
      // Sending it unsigned would let the receiver accept what it cannot verify.
      const error = `environment variable ${hook.secretEnv} (secret_env) is not set; not sent`;
      this.#record({ ...base, attempt: 1, ok: false, error, durationMs: 0, retrying: false });
      return { ...base, ok: false, attempts: 0, durationMs: 0, error };
    }
    if (secret !== undefined) headers["x-freshmirror-signature"] = signBody(body, secret);

    const backoffBase = this.#options.backoffBaseMs ?? 1000;
    const maxBackoff = this.#options.maxBackoffMs ?? 5 * 60_000;
    let outcome: AttemptOutcome = { ok: false, retryable: false, error: "not attempted" };
    let attempt = 0;
    for (;;) {
      attempt++;
      const attemptStarted = Date.now();
      outcome = await this.#postOnce(hook, body, headers);
      const retrying =
        !outcome.ok && outcome.retryable && attempt <= hook.retries && !this.#closing.signal.aborted;
      this.#record({
        ...base,
        attempt,
        ok: outcome.ok,
        ...(outcome.status === undefined ? {} : { status: outcome.status }),
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
        durationMs: Date.now() - attemptStarted,
        retrying,
      });
      if (!retrying) break;
      // Exact doubling (no jitter): the delivery log promises these waits. Closing ends the wait.
      const delay = backoffDelay(attempt - 1, { baseMs: backoffBase, maxMs: maxBackoff, jitter: false });
      await sleep(delay, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      if (this.#closing.signal.aborted) {
        outcome = { ...outcome, error: `${outcome.error ?? "failed"}; not retried: shutting down` };
        break;
      }
    }
    return {
      ...base,
      ok: outcome.ok,
      attempts: attempt,
      durationMs: Date.now() - started,
      ...(outcome.status === undefined ? {} : { status: outcome.status }),
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
    };
  }

  async #postOnce(
    hook: WebhookHookConfig,
    body: string,
    headers: Record<string, string>,
  ): Promise<AttemptOutcome> {
    const timeout = AbortSignal.timeout(hook.timeoutMs);
    const signal = AbortSignal.any([timeout, this.#closing.signal]);
    try {
      const response = await request(hook.url, {
        method: "POST",
        headers,
        body,
        signal,
        headersTimeout: hook.timeoutMs,
        bodyTimeout: hook.timeoutMs,
      });
      // The receiver's answer is not used; read it (bounded by the timeout) so the socket is reused.
      await response.body.dump({ limit: 64 * 1024 });
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { ok: true, retryable: false, status };
      return {
        ok: false,
        retryable: status >= 500 || status === 408 || status === 429,
        status,
        error: `receiver answered HTTP ${status}`,
      };
    } catch (error) {
      if (timeout.aborted)
        return { ok: false, retryable: true, error: `no answer within ${hook.timeoutMs} ms` };
      if (this.#closing.signal.aborted)
        return { ok: false, retryable: false, error: "cancelled: shutting down" };
      const code = (error as { code?: string }).code;
      if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
        return { ok: false, retryable: true, error: `no answer within ${hook.timeoutMs} ms` };
      }
      // Connection refused or reset, DNS: the receiver may come back.
      return { ok: false, retryable: true, error: errorText(error) };
    }
  }

  #runCommand(hook: CommandHookConfig, event: FreshmirrorEvent, delivery: string): Promise<HookResult> {
    const started = Date.now();
    const argv = hook.command.map((arg) => substitutePlaceholders(arg, event));
    const subject = eventSubject(event);
    const env: NodeJS.ProcessEnv = {
      ...(this.#options.env ?? process.env),
      ...hook.env,
      FRESHMIRROR_EVENT: event.type,
      FRESHMIRROR_EVENT_ID: String(event.id),
      FRESHMIRROR_DELIVERY: delivery,
      FRESHMIRROR_MIRROR: subject.mirror,
      FRESHMIRROR_PROJECT: subject.project ?? "",
      FRESHMIRROR_VERSION: subject.version ?? "",
      FRESHMIRROR_EVENT_JSON: JSON.stringify(event),
    };
    const base = { hook: hook.id, kind: "command" as const, event, delivery, argv };
    const output = new OutputTail(this.#options.outputLimitBytes ?? 64 * 1024);

    return new Promise<HookResult>((resolve) => {
      let child: ChildProcess;
      const finish = (fields: Partial<HookResult> & { ok: boolean }) => {
        const durationMs = Date.now() - started;
        this.#record({
          hook: hook.id,
          kind: "command",
          event,
          delivery,
          attempt: 1,
          ok: fields.ok,
          ...(fields.exitCode === undefined ? {} : { exitCode: fields.exitCode }),
          ...(fields.signal === undefined ? {} : { signal: fields.signal }),
          ...(fields.timedOut ? { timedOut: true } : {}),
          ...(fields.error === undefined ? {} : { error: fields.error }),
          durationMs,
          retrying: false,
        });
        resolve({ ...base, attempts: 1, durationMs, output: output.toString(), ...fields });
      };
      if (this.#closing.signal.aborted) {
        finish({ ok: false, error: "cancelled: shutting down" });
        return;
      }
      try {
        child = spawn(argv[0] as string, argv.slice(1), {
          cwd: this.#options.cwd,
          env,
          // Its own process group, so a timeout kills everything it started.
          detached: process.platform !== "win32",
          stdio: ["ignore", "pipe", "pipe"],
          shell: false,
          windowsHide: true,
        });
      } catch (error) {
        finish({ ok: false, error: `cannot run ${argv[0]}: ${errorText(error)}` });
        return;
      }
      this.#children.add(child);
      child.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
      child.stderr?.on("data", (chunk: Buffer) => output.push(chunk));

      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      let pipeTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        this.#killGroup(child, "SIGTERM");
        killTimer = setTimeout(() => this.#killGroup(child, "SIGKILL"), this.#options.killGraceMs ?? 5000);
      }, hook.timeoutMs);

      let settled = false;
      const settle = (fields: Partial<HookResult> & { ok: boolean }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(killTimer);
        // Whatever of its group outlived a timed-out leader (ignoring SIGTERM) goes now.
        if (timedOut) this.#killGroup(child, "SIGKILL");
        clearTimeout(pipeTimer);
        this.#children.delete(child);
        finish(fields);
      };
      child.on("error", (error) =>
        settle({ ok: false, error: `cannot run ${argv[0]}: ${errorText(error)}` }),
      );
      const onEnd = (code: number | null, signal: NodeJS.Signals | null) => {
        if (timedOut) {
          settle({
            ok: false,
            timedOut: true,
            ...(code === null ? {} : { exitCode: code }),
            ...(signal === null ? {} : { signal }),
            error: `killed after its timeout of ${hook.timeoutMs} ms`,
          });
        } else if (code === 0) {
          settle({ ok: true, exitCode: 0 });
        } else if (code !== null) {
          settle({ ok: false, exitCode: code, error: `exited with code ${code}` });
        } else {
          settle({ ok: false, ...(signal === null ? {} : { signal }), error: `ended by signal ${signal}` });
        }
      };
      // "close" waits for the output pipes; a background process it left behind may hold them
      // open, so after "exit" the output is waited for only briefly.
      child.on("close", onEnd);
      child.on("exit", (code, signal) => {
        pipeTimer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          onEnd(code, signal);
        }, 1000);
      });
    });
  }

  #killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // The group is already gone.
    }
  }

  #record(entry: Omit<DeliveryLogEntry, "time" | "event" | "eventType"> & { event: FreshmirrorEvent }): void {
    const line: DeliveryLogEntry = {
      ...entry,
      time: new Date().toISOString(),
      event: entry.event.id,
      eventType: entry.event.type,
    };
    this.#log.push(line);
    if (this.#log.length > this.#logCapacity) this.#log.splice(0, this.#log.length - this.#logCapacity);
    const file = this.#options.logFile;
    if (file === undefined) return;
    this.#logDirReady ??= mkdir(dirname(file), { recursive: true });
    const dirReady = this.#logDirReady;
    this.#logWrite = this.#logWrite
      .then(() => dirReady)
      .then(() => appendFile(file, `${JSON.stringify(orderedEntry(line))}\n`))
      .catch((error: unknown) =>
        this.#reportError(`cannot write the hook delivery log ${file}: ${errorText(error)}`),
      );
  }

  #reportError(message: string): void {
    try {
      (this.#options.logger ?? fallbackLogger()).error(`hooks: ${message}`);
    } catch {
      // Nothing left to tell.
    }
  }
}

// `time` first in each log line, so the file reads well with `tail`.
function orderedEntry(entry: DeliveryLogEntry): DeliveryLogEntry {
  const { time, ...rest } = entry;
  return { time, ...rest };
}
