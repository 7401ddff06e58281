// Garbage collection inside `serve`, on `gc_schedule` (03:15 local time by default): what a
// station needs so that its disk does not grow with every release that left a snapshot. It may
// run beside syncs and pull-through (see store/garbage-collector.ts). One run at a time; a run
// that fails is logged, and the next slot still comes.
import type { Schedule } from "../config/base-mirror.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { BlobStore } from "../store/blob-store.js";
import { collectGarbage } from "../store/garbage-collector.js";
import type { BlobRepository, RunRepository, SyncLocks } from "../store/state-repositories.js";
import { nextSlot } from "./cron-schedule.js";
import { gcCutoff } from "./gc-cutoff.js";

/** What the scheduled runs did since the server started (metrics, status page, API). */
export interface GcFigures {
  runs: number;
  failedRuns: number;
  removedBlobs: number;
  freedBytes: number;
  lastRunAt: number | null;
  nextRunAt: number | null;
}

export interface ScheduledGcDeps {
  schedule: Schedule;
  graceMs: number;
  state: { blobs: BlobRepository; runs: RunRepository; locks: SyncLocks };
  store: BlobStore;
  logger: Logger;
}

/** setTimeout takes at most 2^31-1 ms (~24.8 days); a later slot is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the server shows of its scheduled gc. */
export interface GcView {
  readonly schedule: Schedule;
  readonly graceMs: number;
  readonly figures: Readonly<GcFigures>;
}

export class ScheduledGc implements GcView {
  readonly figures: GcFigures = {
    runs: 0,
    failedRuns: 0,
    removedBlobs: 0,
    freedBytes: 0,
    lastRunAt: null,
    nextRunAt: null,
  };
  readonly #deps: ScheduledGcDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: ScheduledGcDeps) {
    this.#deps = deps;
  }

  get schedule(): Schedule {
    return this.#deps.schedule;
  }

  get graceMs(): number {
    return this.#deps.graceMs;
  }

  start(): void {
    this.#arm(Date.now());
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #arm(after: number): void {
    if (this.#stopped) return;
    const at = nextSlot(this.#deps.schedule, after, this.figures.lastRunAt);
    this.figures.nextRunAt = at;
    if (at === null) return;
    this.#timer = setTimeout(
      () => {
        if (Date.now() < at) return this.#arm(after);
        this.#running = this.#run().finally(() => {
          this.#running = undefined;
          this.#arm(Math.max(Date.now(), at));
        });
      },
      Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS),
    );
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    const { state, store, logger, graceMs } = this.#deps;
    const startedAt = Date.now();
    this.figures.lastRunAt = startedAt;
    try {
      const before = await gcCutoff(state, startedAt, graceMs);
      const report = await collectGarbage({ records: state.blobs, store }, { before, dryRun: false });
      const removed = report.blobs.length - report.failed.length;
      this.figures.runs++;
      this.figures.removedBlobs += removed;
      this.figures.freedBytes += report.bytes;
      for (const failure of report.failed)
        logger.warn(
          { sha256: failure.sha256 },
          `gc: could not remove sha256:${failure.sha256}: ${failure.error}`,
        );
      logger.info(
        { removed, bytes: report.bytes, failed: report.failed.length, durationMs: Date.now() - startedAt },
        `gc: ${removed} unreferenced blob(s) removed, ${report.bytes} bytes freed`,
      );
    } catch (error) {
      this.figures.failedRuns++;
      logger.error({ err: error }, `gc failed: ${describeError(error)}`);
    }
  }
}
