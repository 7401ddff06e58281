// The JSON shapes of /api/v1: a mirror's status and a run. snake_case keys, times as ISO 8601
// strings (null when there is none), sizes in bytes, lag in seconds.

import { formatDurationSpec } from "../config/config-yaml.js";
import type { SyncProgressEvent } from "../events/event-bus.js";
import type { RunRow } from "../store/state-store.js";
import type { InFlightDownload } from "../sync/blob-fetcher.js";
import type { MirrorStatus } from "../sync/mirror-status.js";
import type { GcView } from "../sync/scheduled-gc.js";

const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

export interface RunJson {
  id: number;
  mirror: string;
  kind: string;
  project: string | null;
  outcome: RunRow["outcome"];
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  files_added: number;
  files_removed: number;
  bytes_added: number;
  bytes_removed: number;
  files_total: number;
  bytes_total: number;
  upstream_requests: number;
  error: string | null;
  warnings: string[];
  log_url: string | null;
}

export function runToJson(run: RunRow): RunJson {
  const base = `/api/v1/mirrors/${encodeURIComponent(run.mirror)}/runs/${run.id}`;
  return {
    id: run.id,
    mirror: run.mirror,
    kind: run.kind,
    project: run.project,
    outcome: run.outcome,
    started_at: iso(run.startedAt),
    ended_at: iso(run.endedAt),
    duration_ms: run.endedAt === null ? null : run.endedAt - run.startedAt,
    files_added: run.filesAdded,
    files_removed: run.filesRemoved,
    bytes_added: run.bytesAdded,
    bytes_removed: run.bytesRemoved,
    files_total: run.filesTotal,
    bytes_total: run.bytesTotal,
    upstream_requests: run.upstreamRequests,
    error: run.error,
    warnings: run.warnings,
    log_url: run.logPath === null ? null : `${base}/log`,
  };
}

export interface MirrorJson {
  name: string;
  type: string;
  mode: "mirror" | "proxy";
  description: string | null;
  upstream: string;
  indexes: readonly string[];
  url: string;
  help_url: string;
  status_url: string;
  state: string;
  schedule: string | null;
  last_success_at: string | null;
  last_attempt_at: string | null;
  last_ended_at: string | null;
  next_run_at: string | null;
  paused_at: string | null;
  published_at: string | null;
  size_bytes: number;
  file_count: number;
  /** null: never synced, a proxy, or unknown (lag_level "unknown": upstream cannot be read). */
  lag_seconds: number | null;
  lag_level: string | null;
  /** Since when the lag has been unknown (upstream unreadable); null while it is known. */
  lag_unknown_since: string | null;
  /** Whether the last look at upstream (a sync or watch cycle) could read its pages; null before any. */
  upstream_up: boolean | null;
  /** The last time upstream's pages were read. */
  upstream_checked_at: string | null;
  /** Why upstream could not be read, root cause first. */
  upstream_error: string | null;
  lag_warn_seconds: number;
  lag_critical_seconds: number;
  last_error: string | null;
  last_run: RunJson | null;
}

export function mirrorToJson(m: MirrorStatus): MirrorJson {
  const name = encodeURIComponent(m.name);
  return {
    name: m.name,
    type: m.type,
    mode: m.mode,
    description: m.description ?? null,
    upstream: m.upstream,
    indexes: m.indexes,
    url: `/${name}/`,
    help_url: `/help/${name}`,
    status_url: `/status/${name}`,
    state: m.state,
    schedule: m.schedule,
    last_success_at: iso(m.lastSuccessAt),
    last_attempt_at: iso(m.lastAttemptAt),
    last_ended_at: iso(m.lastEndedAt),
    next_run_at: iso(m.nextRunAt),
    paused_at: iso(m.pausedAt),
    published_at: iso(m.publishedAt),
    size_bytes: m.totalSize,
    file_count: m.fileCount,
    lag_seconds: m.lagMs === null ? null : Math.round(m.lagMs / 1000),
    lag_level: m.lagLevel,
    lag_unknown_since: m.lagLevel === "unknown" ? iso(m.upstreamFailingSince) : null,
    upstream_up: m.upstreamUp,
    upstream_checked_at: iso(m.upstreamCheckedAt),
    upstream_error: m.upstreamUp === false ? m.upstreamError : null,
    lag_warn_seconds: Math.round(m.lagWarnMs / 1000),
    lag_critical_seconds: Math.round(m.lagCriticalMs / 1000),
    last_error: m.lastError,
    last_run: m.lastRun ? runToJson(m.lastRun) : null,
  };
}

export interface ProgressJson {
  run_id: number | null;
  project: string | null;
  phase: SyncProgressEvent["phase"];
  started_at: string;
  updated_at: string;
  files_done: number;
  files_total: number;
  bytes_done: number;
  /** Sizes still unknown are estimated from the known ones until `bytes_total_exact`. */
  bytes_total: number;
  bytes_total_exact: boolean;
  /** Bytes per second since the downloads began. */
  rate_bytes_per_second: number;
  eta_seconds: number | null;
  fraction: number;
}

/** The running sync's figures in the API's shape. */
export function progressToJson(p: SyncProgressEvent): ProgressJson {
  return {
    run_id: p.runId,
    project: p.project ?? null,
    phase: p.phase,
    started_at: p.startedAt,
    updated_at: p.time,
    files_done: p.filesDone,
    files_total: p.filesTotal,
    bytes_done: p.bytesDone,
    bytes_total: p.bytesTotal,
    bytes_total_exact: p.bytesTotalExact,
    rate_bytes_per_second: p.rate,
    eta_seconds: p.etaMs === null ? null : Math.round(p.etaMs / 1000),
    fraction: p.fraction,
  };
}

export interface DownloadJson {
  filename: string;
  /** "sync" or "fetch" (on demand, for a client). */
  origin: string;
  started_at: string;
  bytes_done: number;
  bytes_total: number | null;
}

/** A download in progress (pull-through or sync), without its URL (it may name a private host). */
export function downloadToJson(d: InFlightDownload): DownloadJson {
  return {
    filename: d.request.filename,
    origin: d.request.origin,
    started_at: new Date(d.startedAt).toISOString(),
    bytes_done: d.bytesWritten,
    bytes_total: d.expectedSize ?? null,
  };
}

export interface GcJson {
  /** gc_schedule as written: a cron expression (local time) or an interval ("6h"). */
  schedule: string;
  grace_seconds: number;
  last_run_at: string | null;
  next_run_at: string | null;
  /** Since the server started. */
  runs: number;
  failed_runs: number;
  removed_blobs: number;
  freed_bytes: number;
}

export function gcToJson(gc: GcView): GcJson {
  const { figures } = gc;
  return {
    schedule: gc.schedule.kind === "cron" ? gc.schedule.expression : formatDurationSpec(gc.schedule.everyMs),
    grace_seconds: gc.graceMs / 1000,
    last_run_at: iso(figures.lastRunAt),
    next_run_at: iso(figures.nextRunAt),
    runs: figures.runs,
    failed_runs: figures.failedRuns,
    removed_blobs: figures.removedBlobs,
    freed_bytes: figures.freedBytes,
  };
}
