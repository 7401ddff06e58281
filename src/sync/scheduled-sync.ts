// Wires the scheduler to the generic run lifecycle: a run's outcome as the scheduler needs it,
// and a run that cannot take the mirror's lock (a `freshmirror sync` in another process) as
// skipped. A successful run marks the upstream changes it covered as published (the lag records).
import type { MirrorConfigBase } from "../config/base-mirror.js";
import { describeError, SyncLockedError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { type RunLifecycleDeps, syncMirror } from "./run-lifecycle.js";
import { type RunSync, Scheduler } from "./scheduler.js";

export interface ScheduledSyncDeps extends RunLifecycleDeps {
  readonly config: { readonly mirrors: readonly MirrorConfigBase[]; readonly maxConcurrentSyncs: number };
  readonly logger: Logger;
}

export function runSyncWith(app: RunLifecycleDeps): RunSync {
  return async (mirror, { project }) => {
    try {
      const report = await syncMirror(app, mirror, { project });
      // syncMirror itself records lag as published, for CLI syncs too.
      return { outcome: report.outcome === "failed" ? "failed" : "success", error: report.error };
    } catch (error) {
      if (error instanceof SyncLockedError) return { outcome: "skipped", error: error.message };
      return { outcome: "failed", error: describeError(error) };
    }
  };
}

export function createScheduler(app: ScheduledSyncDeps): Scheduler {
  return new Scheduler({
    mirrors: app.config.mirrors,
    maxConcurrentSyncs: app.config.maxConcurrentSyncs,
    state: app.state,
    runSync: runSyncWith(app),
    logger: app.logger,
  });
}
