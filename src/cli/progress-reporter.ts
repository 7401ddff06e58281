// Progress of `freshmirror sync`: on a terminal, one line redrawn in place with a bar (files
// done/total, bytes, rate, ETA); otherwise a plain line every few seconds and at each phase
// change, so logs collected by systemd or CI stay readable.
import { formatBytes, formatDuration } from "../config/duration.js";
import { progressFigures } from "../sync/live-progress.js";
import type { SyncProgress } from "../sync/run-lifecycle.js";

export { type ProgressFigures, progressFigures } from "../sync/live-progress.js";

export interface ProgressReporterOptions {
  tty: boolean;
  write(text: string): void;
  now?: () => number;
  /** Least time between two lines: default 200 ms on a terminal, 5 s otherwise. */
  intervalMs?: number;
  barWidth?: number;
}

export function progressBar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

export function describeProgress(p: SyncProgress, downloadElapsedMs: number, barWidth?: number): string {
  if (p.phase === "index") return `reading index pages ${p.filesDone}/${p.filesTotal}`;
  if (p.phase === "publish") return `publishing ${p.filesTotal} new files`;
  const { fraction, rate, etaMs, bytesTotal, exact } = progressFigures(p, downloadElapsedMs);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const parts = [
    `files ${p.filesDone}/${p.filesTotal}`,
    // "~" while some sizes are still unknown (estimated from those known).
    `${formatBytes(p.bytesDone)}/${exact ? formatBytes(bytesTotal) : bytesTotal > 0 ? `~${formatBytes(bytesTotal)}` : "?"}`,
    `${formatBytes(rate)}/s`,
    `ETA ${etaMs === undefined ? "?" : formatDuration(etaMs)}`,
  ];
  return barWidth === undefined
    ? `progress: ${percent.trim()} ${parts.join(", ")}`
    : `${progressBar(fraction, barWidth)} ${percent}  ${parts.join("  ")}`;
}

export class ProgressReporter {
  readonly #options: ProgressReporterOptions;
  readonly #now: () => number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #lastPhase: SyncProgress["phase"] | undefined;
  #downloadStartedAt: number | undefined;
  #drawn = false;

  constructor(options: ProgressReporterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  update(p: SyncProgress): void {
    const now = this.#now();
    if (p.phase === "download" && this.#downloadStartedAt === undefined) this.#downloadStartedAt = now;
    const phaseChanged = p.phase !== this.#lastPhase;
    const interval = this.#options.intervalMs ?? (this.#options.tty ? 200 : 5000);
    // On a terminal the last figures are always drawn; elsewhere the next phase's line says it.
    const complete = this.#options.tty && p.filesTotal > 0 && p.filesDone === p.filesTotal;
    if (!phaseChanged && !complete && now - this.#lastAt < interval) return;
    this.#lastAt = now;
    this.#lastPhase = p.phase;
    const elapsed = now - (this.#downloadStartedAt ?? now);
    if (this.#options.tty) {
      this.#options.write(`\r\x1b[K${describeProgress(p, elapsed, this.#options.barWidth ?? 24)}`);
      this.#drawn = true;
    } else {
      this.#options.write(`${describeProgress(p, elapsed)}\n`);
    }
  }

  /** Clears the redrawn line (on a terminal) before the summary is printed. */
  finish(): void {
    if (this.#options.tty && this.#drawn) this.#options.write("\r\x1b[K");
    this.#drawn = false;
  }
}
