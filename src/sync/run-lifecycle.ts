// The life of one sync run, whatever the ecosystem: take the mirror's lock (taking over one whose
// process is gone), record the run and its log, report progress, call the kind's sync step,
// record the outcome and the lag marks, release the lock, and emit sync.* and release.new.
// The step (src/<ecosystem>/...-sync-step.ts) reads upstream and publishes — or throws, and
// nothing is published.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { MirrorConfigBase } from "../config/base-mirror.js";
import type { EventBus } from "../events/event-bus.js";
import type { LagRepository as LagStore, StateRepositories } from "../store/state-repositories.js";
import { redactText } from "../upstream/redact-url.js";
import { describeFailure } from "../upstream/root-cause.js";
import type { LiveProgress } from "./live-progress.js";
import { RunLog } from "./run-log.js";
import type { SyncProgress, SyncReport, SyncStep } from "./sync-step.js";

/** The sync lock a mirror's runs hold (SyncLocks), one per mirror. */
export function syncLockName(mirror: string): string {
  return `sync:${mirror}`;
}

export type { DryRunFile, NewRelease, SyncProgress, SyncReport } from "./sync-step.js";

export interface SyncOptions {
  /** Sync only this project; the other projects of the snapshot are carried over unchanged. */
  project?: string | undefined;
  dryRun?: boolean;
  onProgress?: (progress: SyncProgress) => void;
  /** Receives each log line (also written to the run's log file). */
  onLog?: (line: string) => void;
  now?: () => number;
}

/** The mirror as a run needs it: its config, its client's request count, and its kind's step. */
export interface SyncTarget {
  readonly config: MirrorConfigBase;
  readonly client: { readonly requestCount: number };
  readonly sync: SyncStep;
}

export interface RunLifecycleDeps {
  readonly state: StateRepositories;
  readonly lag: LagStore;
  readonly events: EventBus;
  /** Where run logs go: `<logsDir>/<mirror>/<run id>.log`. */
  readonly logsDir: string;
  /** The base URL clients reach this server at, for URLs in release.new events. */
  readonly publicUrl: string;
  mirror(name: string): SyncTarget;
  /** Where the running sync's figures are kept for the API and the status page (throttled events). */
  readonly progress?: LiveProgress;
}

function emptyReport(mirror: string, dryRun: boolean): SyncReport {
  return {
    mirror,
    runId: null,
    outcome: dryRun ? "dry-run" : "success",
    filesAdded: 0,
    filesRemoved: 0,
    bytesAdded: 0,
    bytesRemoved: 0,
    filesTotal: 0,
    bytesTotal: 0,
    upstreamRequests: 0,
    warnings: [],
    error: undefined,
    toFetch: [],
    newReleases: [],
    durationMs: 0,
  };
}

export async function syncMirror(
  app: RunLifecycleDeps,
  mirrorName: string,
  options: SyncOptions = {},
): Promise<SyncReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const mirror = app.mirror(mirrorName);
  const dryRun = options.dryRun === true;
  const project = options.project === undefined ? undefined : mirror.sync.normalizeProject(options.project);
  const report = emptyReport(mirrorName, dryRun);
  const requestsBefore = mirror.client.requestCount;
  let log = new RunLog(undefined, options.onLog);
  const lockName = syncLockName(mirrorName);
  if (!dryRun) {
    const { tookOverFrom } = await app.state.locks.acquire(lockName, now());
    if (tookOverFrom !== null) {
      await app.state.runs.abandon(
        mirrorName,
        now(),
        `the process running it (pid ${tookOverFrom}) exited before it finished`,
      );
    }
    const logDir = join(app.logsDir, mirrorName);
    mkdirSync(logDir, { recursive: true });
    const runId = await app.state.runs.start(mirrorName, "sync", project ?? null, started, null);
    const logPath = join(logDir, `${runId}.log`);
    await app.state.runs.setLogPath(runId, logPath);
    report.runId = runId;
    log = new RunLog(logPath, options.onLog);
    await app.state.mirrors.update(mirrorName, { state: "syncing", lastAttemptAt: started });
    if (tookOverFrom !== null) log.write(`took over the lock of pid ${tookOverFrom}, which is gone`);
    app.progress?.start(mirrorName, runId, project);
    app.events.emit({ type: "sync.started", mirror: mirrorName, runId, ...(project ? { project } : {}) });
  }
  try {
    log.write(
      `sync of ${mirrorName} from ${mirror.sync.describe()}${project ? `, project ${project}` : ""}${dryRun ? ", dry run" : ""}`,
    );
    await mirror.sync.run({
      project,
      dryRun,
      report,
      runId: report.runId,
      log: (line) => log.write(line),
      warn: (raw) => {
        const message = redactText(raw);
        report.warnings.push(message);
        log.write(`warning: ${message}`);
      },
      onProgress: (progress) => {
        options.onProgress?.(progress);
        if (!dryRun) app.progress?.update(mirrorName, progress);
      },
      upstreamChecked: async () => {
        if (!dryRun) await app.lag.recordCheck(mirrorName, now());
      },
      now,
    });
  } catch (error) {
    report.outcome = "failed";
    // Root cause first ("connection refused (ECONNREFUSED) for …"), then the whole story.
    report.error = describeFailure(error);
    log.write(`failed: ${report.error}`);
    // Failed before upstream's pages were read: upstream could not be checked (lag unknown).
    if (!dryRun) {
      // Read, then write: a watch cycle recording a success in between only makes this failure
      // start a failing spell it would have started anyway (recordCheck keeps the later success).
      const checkedAt = (await app.lag.check(mirrorName))?.lastOkAt ?? null;
      if (checkedAt === null || checkedAt < started)
        await app.lag.recordCheck(mirrorName, now(), report.error);
    }
  } finally {
    report.upstreamRequests = mirror.client.requestCount - requestsBefore;
    report.durationMs = now() - started;
    if (!dryRun && report.runId !== null) {
      app.progress?.finish(mirrorName);
      await finishRun(app, report, project, started, now(), lockName);
      log.write(
        `${report.outcome}: +${report.filesAdded} files (${report.bytesAdded} bytes), -${report.filesRemoved} files, ${report.filesTotal} files published, ${report.upstreamRequests} upstream requests, ${report.durationMs} ms`,
      );
      emitOutcome(app, report, project);
    }
  }
  return report;
}

/** The run's record, the mirror's state and the lag marks; the lock goes whatever happens. */
async function finishRun(
  app: RunLifecycleDeps,
  report: SyncReport,
  project: string | undefined,
  started: number,
  ended: number,
  lockName: string,
): Promise<void> {
  const runId = report.runId as number;
  try {
    await app.state.runs.finish(
      runId,
      {
        outcome: report.outcome === "failed" ? "failed" : "success",
        filesAdded: report.filesAdded,
        filesRemoved: report.filesRemoved,
        bytesAdded: report.bytesAdded,
        bytesRemoved: report.bytesRemoved,
        filesTotal: report.filesTotal,
        bytesTotal: report.bytesTotal,
        upstreamRequests: report.upstreamRequests,
        error: report.error ?? null,
        warnings: report.warnings,
      },
      ended,
    );
    await app.state.mirrors.update(
      report.mirror,
      report.outcome === "failed"
        ? { state: "failed", lastEndedAt: ended, lastError: report.error ?? null }
        : { state: "success", lastEndedAt: ended, lastSuccessAt: ended, lastError: null },
    );
    if (report.outcome !== "failed")
      await app.lag.recordPublished(report.mirror, project ?? null, started, ended, runId);
  } finally {
    await app.state.locks.release(lockName);
  }
}

/** sync.succeeded / sync.failed, and release.new for each release the run published. */
function emitOutcome(app: RunLifecycleDeps, report: SyncReport, project: string | undefined): void {
  const runId = report.runId as number;
  const scope = project ? { project } : {};
  if (report.outcome === "failed") {
    app.events.emit({
      type: "sync.failed",
      mirror: report.mirror,
      runId,
      ...scope,
      error: report.error ?? "unknown",
    });
    return;
  }
  app.events.emit({
    type: "sync.succeeded",
    mirror: report.mirror,
    runId,
    ...scope,
    filesAdded: report.filesAdded,
    bytesAdded: report.bytesAdded,
    filesRemoved: report.filesRemoved,
    durationMs: report.durationMs,
  });
  for (const release of report.newReleases) {
    app.events.emit({
      type: "release.new",
      mirror: report.mirror,
      project: release.project,
      version: release.version,
      runId,
      files: release.files.map((file) => ({
        filename: file.filename,
        url: `${app.publicUrl}/${report.mirror}/${file.urlPath}`,
        sha256: file.sha256,
        size: file.size,
      })),
    });
  }
}
