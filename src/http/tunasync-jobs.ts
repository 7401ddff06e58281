// `GET /jobs` in the format of tunasync's manager (`WebMirrorStatus` in tunasync's
// internal/status_web.go), field for field, so TUNA's mirror-web and the other front ends
// built for tunasync show freshmirror unchanged. Times are Go's "2006-01-02 15:04:05 -0700"
// (text) and Unix seconds (`_ts`); a time that never happened is Go's zero time, as tunasync
// sends it.
import type { MirrorStatus } from "../sync/mirror-status.js";
import { formatLocalTime } from "./time-format.js";

/** Go's zero time.Time as tunasync marshals it. */
export const GO_ZERO_TEXT = "0001-01-01 00:00:00 +0000";
export const GO_ZERO_TS = -62135596800;

export interface TunasyncJob {
  name: string;
  is_master: boolean;
  status: string;
  last_update: string;
  last_update_ts: number;
  last_started: string;
  last_started_ts: number;
  last_ended: string;
  last_ended_ts: number;
  next_schedule: string;
  next_schedule_ts: number;
  upstream: string;
  size: string;
}

function text(ms: number | null): string {
  return ms === null ? GO_ZERO_TEXT : formatLocalTime(ms);
}

function stamp(ms: number | null): number {
  return ms === null ? GO_ZERO_TS : Math.floor(ms / 1000);
}

/** A size the way tunasync's workers report it: "596G", "1.62T", "unknown" before any sync. */
export function approximateSize(bytes: number, fileCount: number): string {
  if (bytes === 0 && fileCount === 0) return "unknown";
  const units = ["B", "K", "M", "G", "T", "P"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)}${units[unit]}`;
}

export function tunasyncJobs(statuses: readonly MirrorStatus[], now = Date.now()): TunasyncJob[] {
  return statuses.map((m) => {
    // tunasync has no schedule while a job is paused or disabled.
    const next = m.state === "paused" || m.state === "disabled" ? null : m.nextRunAt;
    // A proxy mirror is never synced: it fetches from upstream when asked, so it is as fresh as
    // upstream right now. mirror-web would show "none" / a zero time as never synced, so it
    // reads as "success", updated now (mirrorz says the same with its "C" status).
    const onDemand = m.mode === "proxy" && m.state !== "paused" && m.state !== "disabled";
    const lastUpdate = onDemand ? now : m.lastSuccessAt;
    return {
      name: m.name,
      is_master: true,
      status: onDemand ? "success" : m.state,
      last_update: text(lastUpdate),
      last_update_ts: stamp(lastUpdate),
      last_started: text(m.lastAttemptAt),
      last_started_ts: stamp(m.lastAttemptAt),
      last_ended: text(m.lastEndedAt),
      last_ended_ts: stamp(m.lastEndedAt),
      next_schedule: text(next),
      next_schedule_ts: stamp(next),
      upstream: m.upstream,
      size: approximateSize(m.totalSize, m.fileCount),
    };
  });
}
