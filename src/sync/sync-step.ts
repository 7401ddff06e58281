// What the generic run lifecycle (run-lifecycle.ts) hands an ecosystem's sync step, and what the
// step fills in. The lifecycle owns the lock, the run record, the log, the events and the lag
// marks; the step only reads upstream, fetches and publishes.

export interface SyncProgress {
  phase: "index" | "download" | "publish";
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  /** Sum of the sizes known so far (the index's, or a download's Content-Length once it answers). */
  bytesTotal: number;
  /** Files to fetch whose size is not known yet (not in `bytesTotal`); absent means none. */
  filesUnsized?: number;
}

export interface DryRunFile {
  idx: string;
  filename: string;
  url: string;
  size: number | undefined;
}

/** A release a run published that the mirror did not have before (not on a project's first import). */
export interface NewRelease {
  project: string;
  /** The public version (2.9.1 for 2.9.1+cu128 and 2.9.1+cpu alike). */
  version: string;
  files: {
    idx: string;
    filename: string;
    /** The file's path in the mirror, as the kind names it (in `--json` reports). */
    path: string;
    /** Where clients fetch it, relative to `<public url>/<mirror>/`, already percent-encoded. */
    urlPath: string;
    sha256: string;
    size: number;
  }[];
}

export interface SyncReport {
  mirror: string;
  runId: number | null;
  outcome: "success" | "failed" | "dry-run";
  filesAdded: number;
  filesRemoved: number;
  bytesAdded: number;
  bytesRemoved: number;
  filesTotal: number;
  bytesTotal: number;
  upstreamRequests: number;
  warnings: string[];
  error: string | undefined;
  /** For dry runs: what would be fetched. */
  toFetch: DryRunFile[];
  durationMs: number;
  newReleases: NewRelease[];
}

export interface SyncStepContext {
  /** Sync only this subject (already normalized by the kind); the rest is carried over. */
  project: string | undefined;
  dryRun: boolean;
  /** Counters, warnings and releases the step fills in. */
  report: SyncReport;
  runId: number | null;
  log(line: string): void;
  /** A warning: logged and kept in the run record (credentials masked). */
  warn(line: string): void;
  onProgress(progress: SyncProgress): void;
  /** Upstream answered for everything the step needed: the lag figure rests on a fresh look. */
  upstreamChecked(): Promise<void>;
  now(): number;
}

/** One sync of one mirror, as an ecosystem does it. Throws to fail the run (nothing published). */
export interface SyncStep {
  /** The subject as the kind names it (`torch` for `Torch`), or a UsageError if not in the mirror. */
  normalizeProject(project: string): string;
  /** What the run log's first line says about the source (credentials masked). */
  describe(): string;
  run(ctx: SyncStepContext): Promise<void>;
}
