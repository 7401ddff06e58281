// The scheduler inside `serve`: runs each mirror's syncs on its `schedule` (cron in local time,
// or an interval), at most `max_concurrent_syncs` at once and never two of one mirror; retries a
// failed scheduled run with a doubling backoff; runs a slot missed while the server was down
// (`catch_up`); respects `paused` and `disabled`. What it has scheduled is kept in the state
// store (`next_run_at`, `last_scheduled_at`), so schedules survive restarts.
//
// Time: slots come from the wall clock, but the timer never sleeps longer than `maxSleepMs`, so
// a clock jump forward is noticed within a minute; and the next slot is always computed after
// the slot last run for (persisted), so a clock jump backward (or a restart) never runs a slot
// twice.
//
// The state store answers asynchronously: an await sits between reading a mirror's row and writing
// it, and between checking the queue and pushing to it. So every operation (start, trigger,
// requestSync, pause, resume, a timer tick, the end of a run, stop) runs in one SerialQueue: a
// second trigger cannot slip past the "already queued" check while the first writes "pre-syncing".
import type { MirrorConfigBase as MirrorConfig } from "../config/base-mirror.js";
import { describeError, SyncRefusedError, UnknownMirrorError } from "../errors.js";
import { fallbackLogger, type Logger } from "../logging/logger.js";
import type { MirrorState, StateRepositories } from "../store/state-repositories.js";
import { backoffDelay } from "../upstream/backoff.js";
import { nextSlot } from "./cron-schedule.js";
import { SerialQueue } from "./serial-queue.js";

export type RunReason = "schedule" | "catch-up" | "retry" | "manual" | "watch";

export interface ScheduledRunResult {
  /** "skipped": the run did not start (another process holds the mirror's sync lock). */
  outcome: "success" | "failed" | "skipped";
  error?: string | undefined;
}

export type RunSync = (
  mirror: string,
  options: { project: string | undefined; reason: RunReason },
) => Promise<ScheduledRunResult>;

export interface SchedulerOptions {
  mirrors: readonly MirrorConfig[];
  maxConcurrentSyncs: number;
  state: StateRepositories;
  runSync: RunSync;
  /** For jitter; default Math.random. */
  random?: () => number;
  /** Default: a stderr logger. */
  logger?: Logger;
  /** Longest sleep between looks at the wall clock. Default one minute. */
  maxSleepMs?: number;
}

interface Plan {
  config: MirrorConfig;
  /** The schedule slot the next regular run is for, or null when none (paused, unscheduled). */
  slot: number | null;
  /** When that run starts: the slot plus its jitter. */
  dueAt: number | null;
  retry: { attempt: number; at: number } | null;
}

interface Job {
  mirror: string;
  reason: RunReason;
  project: string | undefined;
  /** 0 for a first attempt, n for the nth retry. */
  attempt: number;
  /** The state to put back if the run never starts; null when queued behind a running sync. */
  restoreState: MirrorState | null;
}

export interface MirrorScheduleStatus {
  /** Whether the mirror runs on a schedule at all (mirror mode, not disabled). */
  scheduled: boolean;
  running: boolean;
  /** Position in the queue (0 = next), or null when not queued. */
  queuePosition: number | null;
  nextRunAt: number | null;
  /** The retry waiting to run, if any. */
  retry: { attempt: number; at: number } | null;
}

const DEFAULT_MAX_SLEEP_MS = 60_000;

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #plans = new Map<string, Plan>();
  readonly #queue: Job[] = [];
  readonly #running = new Map<string, { job: Job; done: Promise<void> }>();
  readonly #idleWaiters: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started = false;
  #stopped = false;
  readonly #serial = new SerialQueue();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    for (const config of options.mirrors) {
      this.#plans.set(config.name, { config, slot: null, dueAt: null, retry: null });
    }
  }

  get runningCount(): number {
    return this.#running.size;
  }

  get queuedCount(): number {
    return this.#queue.length;
  }

  /** Restores every mirror's schedule from the state store, runs missed slots, and arms the timer. */
  start(): Promise<void> {
    return this.#serial.run(() => this.#start());
  }

  async #start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const now = Date.now();
    for (const plan of this.#plans.values()) {
      const { name } = plan.config;
      await this.#recoverInterrupted(name, now);
      if (!this.#isScheduled(plan.config) || (await this.#isPaused(plan.config))) {
        await this.#options.state.mirrors.update(name, { nextRunAt: null });
        continue;
      }
      const row = await this.#options.state.mirrors.get(name);
      let last = row.lastScheduledAt;
      if (last !== null && plan.config.catchUp) {
        const missed = nextSlot(plan.config.schedule, last, last);
        // A sync that ran after the missed slot (e.g. `freshmirror sync`) already covered it.
        if (missed !== null && missed <= now && (row.lastAttemptAt ?? Number.NEGATIVE_INFINITY) < missed) {
          this.#log(name, `catching up the run due ${new Date(missed).toISOString()}, missed while stopped`);
          last = now;
          await this.#options.state.mirrors.update(name, { lastScheduledAt: now });
          await this.#enqueue(name, "catch-up", undefined, 0);
        }
      }
      await this.#planFrom(plan, Math.max(now, last ?? now), last);
    }
    this.#pump();
    this.#arm();
  }

  /** Stops scheduling; queued runs are dropped. Waits up to `waitMs` for running syncs to end. */
  async stop(waitMs = 10_000): Promise<void> {
    // Outside the queue while waiting: a run's end queues its #finish.
    const running = await this.#serial.run(async () => {
      this.#stopped = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const job of this.#queue.splice(0)) await this.#restore(job);
      return [...this.#running.values()].map((r) => r.done);
    });
    if (running.length === 0 || waitMs <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(running),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    if (timer !== undefined) clearTimeout(timer);
  }

  /** Resolves when nothing is running or queued. */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  status(name: string): MirrorScheduleStatus {
    const plan = this.#plan(name);
    const position = this.#queue.findIndex((j) => j.mirror === name);
    return {
      scheduled: this.#isScheduled(plan.config),
      running: this.#running.has(name),
      queuePosition: position === -1 ? null : position,
      nextRunAt: this.#nextRunAt(plan),
      retry: plan.retry && { ...plan.retry },
    };
  }

  /**
   * Queues a sync now (an admin call). Allowed while paused (pausing stops the schedule, not an
   * operator); refused when the mirror is disabled or already has a sync running or queued.
   */
  trigger(name: string, project?: string): Promise<{ started: boolean; queuePosition: number }> {
    return this.#serial.run(async () => {
      const plan = this.#plan(name);
      if (plan.config.disabled) {
        throw new SyncRefusedError(name, "the mirror is disabled", "remove `disabled: true` from its config");
      }
      if (this.#stopped) throw new SyncRefusedError(name, "the server is shutting down");
      this.#refuseIfBusy(name);
      await this.#enqueue(name, "manual", project, 0);
      this.#pump();
      const started = this.#running.has(name);
      return { started, queuePosition: started ? 0 : this.#queue.findIndex((j) => j.mirror === name) };
    });
  }

  /**
   * A targeted sync asked for by the watcher (an upstream change): queued behind a running sync
   * of the mirror, merged into one already queued that covers it, never dropped. Ignored while
   * the mirror is disabled or paused (the change stays pending in the lag records).
   */
  requestSync(name: string, project: string | undefined, reason: RunReason = "watch"): Promise<void> {
    return this.#serial.run(() => this.#requestSync(name, project, reason));
  }

  async #requestSync(name: string, project: string | undefined, reason: RunReason): Promise<void> {
    const plan = this.#plan(name);
    if (plan.config.disabled || this.#stopped || (await this.#isPaused(plan.config))) return;
    const queued = this.#queue.filter((j) => j.mirror === name);
    if (queued.some((j) => j.project === undefined || j.project === project)) return;
    if (project === undefined && queued.length > 0) {
      // One full sync covers the targeted ones queued before it.
      const [first, ...rest] = queued as [Job, ...Job[]];
      first.project = undefined;
      for (const job of rest) this.#queue.splice(this.#queue.indexOf(job), 1);
      return;
    }
    await this.#enqueue(name, reason, project, 0);
    this.#pump();
  }

  /** Pauses the schedule (kept across restarts). A queued run is dropped; a running one finishes. */
  pause(name: string): Promise<void> {
    return this.#serial.run(() => this.#pause(name));
  }

  async #pause(name: string): Promise<void> {
    const plan = this.#plan(name);
    if (plan.config.disabled) {
      throw new SyncRefusedError(name, "the mirror is disabled", "remove `disabled: true` from its config");
    }
    const row = await this.#options.state.mirrors.get(name);
    await this.#options.state.mirrors.update(name, {
      paused: true,
      pausedAt: row.paused && row.pausedAt !== null ? row.pausedAt : Date.now(),
      nextRunAt: null,
    });
    const queued = this.#queue.findIndex((j) => j.mirror === name);
    if (queued !== -1) await this.#restore(this.#queue.splice(queued, 1)[0] as Job);
    plan.slot = null;
    plan.dueAt = null;
    plan.retry = null;
    this.#log(name, "paused");
    this.#arm();
  }

  /** Resumes the schedule from now on (slots missed while paused are not caught up). */
  resume(name: string): Promise<void> {
    return this.#serial.run(() => this.#resume(name));
  }

  async #resume(name: string): Promise<void> {
    const plan = this.#plan(name);
    if (plan.config.disabled) {
      throw new SyncRefusedError(name, "the mirror is disabled", "remove `disabled: true` from its config");
    }
    if (plan.config.paused) {
      throw new SyncRefusedError(
        name,
        "the mirror is paused in the config file",
        "remove `paused: true` from its config and restart",
      );
    }
    await this.#options.state.mirrors.update(name, { paused: false, pausedAt: null });
    if (this.#started && !this.#stopped && this.#isScheduled(plan.config)) {
      const now = Date.now();
      const last = (await this.#options.state.mirrors.get(name)).lastScheduledAt;
      await this.#planFrom(plan, Math.max(now, last ?? now), last);
      this.#arm();
    }
    this.#log(name, "resumed");
  }

  // -- internals ----------------------------------------------------------------------------

  #plan(name: string): Plan {
    const plan = this.#plans.get(name);
    if (!plan) throw new UnknownMirrorError(name, [...this.#plans.keys()]);
    return plan;
  }

  #isScheduled(config: MirrorConfig): boolean {
    // Proxy mirrors fetch on demand and have nothing to sync on a schedule.
    return config.mode === "mirror" && !config.disabled;
  }

  async #isPaused(config: MirrorConfig): Promise<boolean> {
    return config.paused || (await this.#options.state.mirrors.get(config.name)).paused;
  }

  #log(name: string, message: string): void {
    (this.#options.logger ?? fallbackLogger()).info({ mirror: name }, `scheduler: ${name}: ${message}`);
  }

  #jitter(config: MirrorConfig): number {
    if (config.jitterMs <= 0) return 0;
    return Math.floor((this.#options.random ?? Math.random)() * (config.jitterMs + 1));
  }

  /** Sets the plan's next regular slot: the first after `after` (and after the anchor). */
  async #planFrom(plan: Plan, after: number, anchor: number | null): Promise<void> {
    plan.slot = nextSlot(plan.config.schedule, after, anchor);
    plan.dueAt = plan.slot === null ? null : plan.slot + this.#jitter(plan.config);
    await this.#persistNext(plan);
  }

  #nextRunAt(plan: Plan): number | null {
    const times = [plan.dueAt, plan.retry?.at].filter((t): t is number => typeof t === "number");
    return times.length === 0 ? null : Math.min(...times);
  }

  async #persistNext(plan: Plan): Promise<void> {
    await this.#options.state.mirrors.update(plan.config.name, { nextRunAt: this.#nextRunAt(plan) });
  }

  /**
   * A mirror left "syncing" or "pre-syncing" by a server that stopped: if no live process holds
   * its sync lock, the run was interrupted; say so instead of showing it syncing forever.
   */
  async #recoverInterrupted(name: string, now: number): Promise<void> {
    const row = await this.#options.state.mirrors.get(name);
    if (row.state !== "syncing" && row.state !== "pre-syncing") return;
    const holder = await this.#options.state.locks.holder(`sync:${name}`);
    // As acquiring the lock does: a holder on another host is taken to be alive.
    if (holder && (await this.#options.state.locks.isHolderAlive(holder))) return;
    if (row.state === "pre-syncing") {
      await this.#options.state.mirrors.update(name, {
        state: row.lastEndedAt === null ? "none" : row.lastError === null ? "success" : "failed",
      });
      return;
    }
    // The runner's own words for a run whose process died (it says the same on lock takeover).
    const reason = holder
      ? `the process running it (pid ${holder.pid}) exited before it finished`
      : "interrupted: the process running it stopped before it finished";
    await this.#options.state.runs.abandon(name, now, reason);
    await this.#options.state.mirrors.update(name, { state: "failed", lastEndedAt: now, lastError: reason });
  }

  #refuseIfBusy(name: string): void {
    if (this.#running.has(name)) throw new SyncRefusedError(name, "a sync of it is already running");
    if (this.#queue.some((j) => j.mirror === name)) {
      throw new SyncRefusedError(name, "a sync of it is already queued");
    }
  }

  async #enqueue(
    name: string,
    reason: RunReason,
    project: string | undefined,
    attempt: number,
  ): Promise<void> {
    // Behind a running sync the mirror stays "syncing"; otherwise it waits as "pre-syncing".
    const behind = this.#running.has(name) || this.#queue.some((j) => j.mirror === name);
    const row = await this.#options.state.mirrors.get(name);
    this.#queue.push({ mirror: name, reason, project, attempt, restoreState: behind ? null : row.state });
    if (!behind) await this.#options.state.mirrors.update(name, { state: "pre-syncing" });
    this.#log(
      name,
      `${reason} run${project ? ` of ${project}` : ""} queued${attempt > 0 ? ` (retry ${attempt})` : ""}`,
    );
  }

  async #restore(job: Job): Promise<void> {
    if (job.restoreState === null) return;
    if ((await this.#options.state.mirrors.get(job.mirror)).state === "pre-syncing") {
      await this.#options.state.mirrors.update(job.mirror, { state: job.restoreState });
    }
  }

  #pump(): void {
    while (!this.#stopped && this.#running.size < this.#options.maxConcurrentSyncs) {
      const index = this.#queue.findIndex((j) => !this.#running.has(j.mirror));
      if (index === -1) break;
      const job = this.#queue.splice(index, 1)[0] as Job;
      this.#startJob(job);
    }
    this.#notifyIdle();
  }

  #startJob(job: Job): void {
    let result: Promise<ScheduledRunResult>;
    try {
      result = this.#options.runSync(job.mirror, { project: job.project, reason: job.reason });
    } catch (error) {
      result = Promise.reject(error);
    }
    const done = result
      .catch((error: unknown): ScheduledRunResult => ({ outcome: "failed", error: describeError(error) }))
      .then((outcome) => this.#serial.run(() => this.#finish(job, outcome)))
      // The state store may be closed under a run that outlived stop(): nothing left to record.
      .catch((error: unknown) => this.#log(job.mirror, `after the run: ${describeError(error)}`));
    this.#running.set(job.mirror, { job, done });
  }

  async #finish(job: Job, result: ScheduledRunResult): Promise<void> {
    this.#running.delete(job.mirror);
    const plan = this.#plans.get(job.mirror);
    if (result.outcome === "skipped") {
      await this.#restore(job);
      this.#log(job.mirror, `${job.reason} run skipped: ${result.error ?? "another sync holds the lock"}`);
    } else {
      this.#log(
        job.mirror,
        `${job.reason} run ${result.outcome}${result.error ? `: ${result.error.split("\n")[0]}` : ""}`,
      );
    }
    if (plan && !this.#stopped) {
      const retries = plan.config.syncRetry;
      if (
        result.outcome === "failed" &&
        job.reason !== "manual" &&
        job.attempt < retries.count &&
        plan.slot !== null
      ) {
        const delay = backoffDelay(job.attempt, {
          baseMs: retries.backoffMs,
          maxMs: Number.POSITIVE_INFINITY,
          jitter: false, // the schedule (and its jitter) is exact and persisted; so are retries
        });
        const at = Date.now() + delay;
        plan.retry = { attempt: job.attempt + 1, at };
        this.#log(
          job.mirror,
          `retry ${job.attempt + 1} of ${retries.count} at ${new Date(at).toISOString()}`,
        );
      } else if (result.outcome === "success") {
        plan.retry = null;
      }
      if (this.#started) await this.#persistNext(plan);
    }
    this.#pump();
    if (this.#started) this.#arm();
  }

  #notifyIdle(): void {
    if (this.#running.size > 0 || this.#queue.length > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || !this.#started) return;
    let wake = Number.POSITIVE_INFINITY;
    for (const plan of this.#plans.values()) {
      const next = this.#nextRunAt(plan);
      if (next !== null) wake = Math.min(wake, next);
    }
    if (wake === Number.POSITIVE_INFINITY) return;
    const maxSleep = this.#options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS;
    const delay = Math.min(Math.max(0, wake - Date.now()), maxSleep);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const log = this.#options.logger ?? fallbackLogger();
      this.#serial
        .run(() => this.#tick())
        .catch((error: unknown) => log.error({ err: error }, `scheduler: ${describeError(error)}`));
    }, delay);
    // The server keeps the process alive; the scheduler alone must not.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const now = Date.now();
    for (const plan of this.#plans.values()) {
      const { name } = plan.config;
      if (plan.slot === null && plan.retry === null) continue;
      if (await this.#isPaused(plan.config)) continue;
      const busy = () => this.#running.has(name) || this.#queue.some((j) => j.mirror === name);
      if (plan.retry !== null && now >= plan.retry.at) {
        const { attempt } = plan.retry;
        plan.retry = null;
        if (!busy()) await this.#enqueue(name, "retry", undefined, attempt);
        await this.#persistNext(plan);
      }
      if (plan.slot !== null && plan.dueAt !== null && now >= plan.dueAt) {
        const slot = plan.slot;
        if (busy()) {
          this.#log(
            name,
            `run due ${new Date(slot).toISOString()} skipped: the previous sync is still going`,
          );
        } else {
          // A regular run supersedes a retry still waiting.
          plan.retry = null;
          await this.#enqueue(name, "schedule", undefined, 0);
        }
        await this.#options.state.mirrors.update(name, { lastScheduledAt: slot });
        await this.#planFrom(plan, Math.max(now, slot), slot);
      }
    }
    this.#pump();
    this.#arm();
  }
}
