// Where each running sync is, for everyone who asks while it runs: the API
// (`/api/v1/mirrors/<m>`), the status page (its rows, then live over SSE) and the CLI bar. The
// run lifecycle feeds it every progress report; it keeps the latest per mirror and publishes a
// throttled `sync.progress` event on the bus (at most one per `intervalMs` per mirror, plus
// every phase change and the end), so a sync of 100,000 small files does not flood clients.
import type { SyncProgressEvent, TransientEvent } from "../events/event-bus.js";
import type { SyncProgress } from "./sync-step.js";

export interface ProgressFigures {
  /** 0..1 by bytes when a total is known, else by files. */
  fraction: number;
  /** Bytes per second since the downloads began. */
  rate: number;
  /** Milliseconds left at that rate, or undefined when unknown. */
  etaMs: number | undefined;
  /** Bytes of the whole download: known sizes plus, for files not sized yet, their average. */
  bytesTotal: number;
  /** Whether every size is known (else `bytesTotal` is an estimate). */
  exact: boolean;
}

export function progressFigures(p: SyncProgress, downloadElapsedMs: number): ProgressFigures {
  const unsized = p.filesUnsized ?? 0;
  const sized = p.filesTotal - unsized;
  // Files whose size is not known yet count as the average of those known (download.pytorch.org's
  // pages give no sizes: each becomes known when its download answers).
  const estimate = unsized > 0 && sized > 0 ? (p.bytesTotal / sized) * unsized : 0;
  const bytesTotal = Math.max(p.bytesDone, p.bytesTotal + estimate);
  const exact = unsized === 0;
  const byBytes = bytesTotal > 0 && (exact || sized > 0);
  const fraction = byBytes
    ? Math.min(1, p.bytesDone / bytesTotal)
    : p.filesTotal > 0
      ? p.filesDone / p.filesTotal
      : 0;
  const rate = downloadElapsedMs > 0 ? (p.bytesDone * 1000) / downloadElapsedMs : 0;
  const etaMs =
    byBytes && rate > 0
      ? (Math.max(0, bytesTotal - p.bytesDone) / rate) * 1000
      : fraction >= 1
        ? 0
        : undefined;
  return { fraction, rate, etaMs, bytesTotal, exact };
}

interface Running {
  mirror: string;
  runId: number | null;
  project: string | undefined;
  startedAt: number;
  downloadStartedAt: number | undefined;
  last: SyncProgress;
  lastPublishedAt: number;
  lastPhase: SyncProgress["phase"] | undefined;
  pending: NodeJS.Timeout | undefined;
}

export interface LiveProgressOptions {
  /** Where `sync.progress` events go (the event bus). */
  publish: (event: TransientEvent) => void;
  /** Least time between two events of one mirror. Default 500 ms. */
  intervalMs?: number;
  now?: () => number;
}

export class LiveProgress {
  readonly #runs = new Map<string, Running>();
  readonly #publish: (event: TransientEvent) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;

  constructor(options: LiveProgressOptions) {
    this.#publish = options.publish;
    this.#intervalMs = options.intervalMs ?? 500;
    this.#now = options.now ?? Date.now;
  }

  /** A run of `mirror` began. */
  start(mirror: string, runId: number | null, project: string | undefined): void {
    this.#clear(mirror);
    this.#runs.set(mirror, {
      mirror,
      runId,
      project,
      startedAt: this.#now(),
      downloadStartedAt: undefined,
      last: { phase: "index", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 },
      lastPublishedAt: Number.NEGATIVE_INFINITY,
      lastPhase: undefined,
      pending: undefined,
    });
  }

  update(mirror: string, progress: SyncProgress): void {
    const run = this.#runs.get(mirror);
    if (!run) return;
    const now = this.#now();
    if (progress.phase === "download" && run.downloadStartedAt === undefined) run.downloadStartedAt = now;
    run.last = { ...progress };
    const phaseChanged = progress.phase !== run.lastPhase;
    if (phaseChanged || now - run.lastPublishedAt >= this.#intervalMs) {
      this.#emit(run, false);
      return;
    }
    // The last figures of a burst still go out, once the interval has passed.
    if (run.pending === undefined) {
      run.pending = setTimeout(
        () => {
          run.pending = undefined;
          if (this.#runs.get(mirror) === run) this.#emit(run, false);
        },
        this.#intervalMs - (now - run.lastPublishedAt),
      );
      run.pending.unref();
    }
  }

  /** The run is over: its last figures go out marked done, and it is forgotten. */
  finish(mirror: string): void {
    const run = this.#runs.get(mirror);
    if (!run) return;
    this.#emit(run, true);
    this.#clear(mirror);
  }

  /** The running sync of `mirror`, as the event would carry it; undefined when none runs. */
  get(mirror: string): SyncProgressEvent | undefined {
    const run = this.#runs.get(mirror);
    return run && this.#event(run, false);
  }

  #clear(mirror: string): void {
    const run = this.#runs.get(mirror);
    if (run?.pending !== undefined) clearTimeout(run.pending);
    this.#runs.delete(mirror);
  }

  #emit(run: Running, done: boolean): void {
    if (run.pending !== undefined) {
      clearTimeout(run.pending);
      run.pending = undefined;
    }
    run.lastPublishedAt = this.#now();
    run.lastPhase = run.last.phase;
    this.#publish(this.#event(run, done));
  }

  #event(run: Running, done: boolean): SyncProgressEvent {
    const now = this.#now();
    const p = run.last;
    const figures = progressFigures(p, now - (run.downloadStartedAt ?? now));
    return {
      type: "sync.progress",
      time: new Date(now).toISOString(),
      mirror: run.mirror,
      runId: run.runId,
      ...(run.project === undefined ? {} : { project: run.project }),
      phase: p.phase,
      filesDone: p.filesDone,
      filesTotal: p.filesTotal,
      bytesDone: p.bytesDone,
      bytesTotal: Math.round(figures.bytesTotal),
      bytesTotalExact: figures.exact,
      rate: Math.round(figures.rate),
      etaMs: figures.etaMs === undefined ? null : Math.round(figures.etaMs),
      fraction: figures.fraction,
      startedAt: new Date(run.startedAt).toISOString(),
      done,
    };
  }
}
