// `GET /metrics` in the Prometheus text exposition format (version 0.0.4,
// https://prometheus.io/docs/instrumenting/exposition_formats/): per mirror its state, last
// success, sync duration, run outcomes, lag and size; what the server served by route and
// status; pull-through cache results; sync concurrency.
import type { MirrorState } from "../store/state-store.js";
import type { MirrorStatus } from "../sync/mirror-status.js";
import type { GcFigures } from "../sync/scheduled-gc.js";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const STATES: readonly MirrorState[] = [
  "none",
  "pre-syncing",
  "syncing",
  "success",
  "failed",
  "paused",
  "disabled",
];

export interface MetricsInput {
  statuses: readonly MirrorStatus[];
  runOutcomes: readonly { mirror: string; outcome: string; count: number }[];
  /** Requests by "route status". */
  requests: ReadonlyMap<string, number>;
  /** Response body bytes by route. */
  bytes: ReadonlyMap<string, number>;
  /** Pull-through cache results by "mirror RESULT" (RESULT: HIT, MISS, COALESCED). */
  cacheResults: ReadonlyMap<string, number>;
  upstreamFailures?: ReadonlyMap<string, { count: number }>;
  /** Bytes this process downloaded from each mirror's upstream (syncs and on demand). */
  upstreamBytes?: ReadonlyMap<string, number>;
  syncsRunning: number;
  syncsQueued: number;
  /** File bodies being sent now, the bound, and requests refused for it since start. */
  fileResponses?: { active: number; limit: number; refused: number };
  /** What `serve`'s scheduled gc did (absent when gc_schedule is off). */
  gc?: GcFigures | undefined;
  startedAt: number;
}

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: "gauge" | "counter", help: string, samples: [Record<string, string>, number][]) {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, value] of samples) this.#lines.push(`${name}${labels(l)} ${formatValue(value)}`);
  }

  toString(): string {
    return `${this.#lines.join("\n")}\n`;
  }
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  // Milliseconds are the finest figure kept: three decimals of a second at most.
  return String(Math.round(value * 1000) / 1000);
}

const seconds = (ms: number) => ms / 1000;

export function renderMetrics(input: MetricsInput): string {
  const out = new Exposition();
  const { statuses } = input;
  const per = <T>(
    pick: (m: MirrorStatus) => T | null,
    map: (v: T) => number,
  ): [Record<string, string>, number][] =>
    statuses.flatMap((m) => {
      const v = pick(m);
      return v === null ? [] : [[{ mirror: m.name }, map(v)] as [Record<string, string>, number]];
    });

  out.family(
    "freshmirror_mirror_info",
    "gauge",
    "Configured mirrors (value 1), with their type, mode and upstream.",
    statuses.map((m) => [{ mirror: m.name, type: m.type, mode: m.mode, upstream: m.upstream }, 1]),
  );
  out.family(
    "freshmirror_mirror_state",
    "gauge",
    "1 for the state each mirror is in (tunasync's states), 0 for the others.",
    statuses.flatMap((m) =>
      STATES.map((state): [Record<string, string>, number] => [
        { mirror: m.name, state },
        m.state === state ? 1 : 0,
      ]),
    ),
  );
  out.family(
    "freshmirror_mirror_last_success_timestamp_seconds",
    "gauge",
    "When the last successful sync of each mirror ended (published a verified snapshot).",
    per((m) => m.lastSuccessAt, seconds),
  );
  out.family(
    "freshmirror_mirror_last_attempt_timestamp_seconds",
    "gauge",
    "When the last sync of each mirror started.",
    per((m) => m.lastAttemptAt, seconds),
  );
  out.family(
    "freshmirror_mirror_next_sync_timestamp_seconds",
    "gauge",
    "When the next scheduled sync of each mirror is due.",
    per((m) => (m.state === "paused" || m.state === "disabled" ? null : m.nextRunAt), seconds),
  );
  out.family(
    "freshmirror_mirror_sync_duration_seconds",
    "gauge",
    "How long the last finished sync of each mirror took.",
    per((m) => m.lastDurationMs, seconds),
  );
  out.family(
    "freshmirror_mirror_sync_runs_total",
    "counter",
    "Finished sync runs by outcome.",
    input.runOutcomes
      .filter((r) => r.outcome !== "running")
      .map((r): [Record<string, string>, number] => [{ mirror: r.mirror, outcome: r.outcome }, r.count]),
  );
  out.family(
    "freshmirror_mirror_lag_seconds",
    "gauge",
    "How long upstream has had something the mirror lacks (watched mirrors), else the time since the start of the last successful full sync (an upper bound). Absent while upstream cannot be read: see freshmirror_mirror_upstream_up.",
    per((m) => m.lagMs, seconds),
  );
  out.family(
    "freshmirror_mirror_upstream_up",
    "gauge",
    "1 when the last sync or watch cycle could read upstream's pages, 0 when it could not (the lag is then unknown).",
    per(
      (m) => m.upstreamUp,
      (up) => (up ? 1 : 0),
    ),
  );
  out.family(
    "freshmirror_mirror_upstream_checked_timestamp_seconds",
    "gauge",
    "The last time upstream's pages were read by a sync or a watch cycle.",
    per((m) => m.upstreamCheckedAt, seconds),
  );
  out.family(
    "freshmirror_mirror_lag_warn_seconds",
    "gauge",
    "Lag past which the status page warns.",
    per((m) => (m.mode === "proxy" ? null : m.lagWarnMs), seconds),
  );
  out.family(
    "freshmirror_mirror_size_bytes",
    "gauge",
    "Bytes of the files the current snapshots list.",
    per(
      (m) => m.totalSize,
      (v) => v,
    ),
  );
  out.family(
    "freshmirror_mirror_files",
    "gauge",
    "Files the current snapshots list.",
    per(
      (m) => m.fileCount,
      (v) => v,
    ),
  );
  out.family("freshmirror_syncs_running", "gauge", "Syncs running in this server.", [
    [{}, input.syncsRunning],
  ]);
  out.family("freshmirror_syncs_queued", "gauge", "Syncs waiting for a free slot (max_concurrent_syncs).", [
    [{}, input.syncsQueued],
  ]);
  if (input.fileResponses) {
    const files = input.fileResponses;
    out.family(
      "freshmirror_file_responses_active",
      "gauge",
      "File bodies (wheels, layers, blobs) being sent now, across every mirror.",
      [[{}, files.active]],
    );
    out.family(
      "freshmirror_file_responses_limit",
      "gauge",
      "How many file bodies may be sent at once (max_file_responses).",
      [[{}, files.limit]],
    );
    out.family(
      "freshmirror_file_responses_refused_total",
      "counter",
      "File requests refused with 503 because max_file_responses bodies were being sent.",
      [[{}, files.refused]],
    );
  }
  if (input.gc) {
    const gc = input.gc;
    out.family("freshmirror_gc_runs_total", "counter", "Scheduled gc runs (gc_schedule) by outcome.", [
      [{ outcome: "success" }, gc.runs],
      [{ outcome: "failed" }, gc.failedRuns],
    ]);
    out.family("freshmirror_gc_removed_blobs_total", "counter", "Blobs scheduled gc removed.", [
      [{}, gc.removedBlobs],
    ]);
    out.family("freshmirror_gc_freed_bytes_total", "counter", "Bytes scheduled gc freed.", [
      [{}, gc.freedBytes],
    ]);
    out.family(
      "freshmirror_gc_last_run_timestamp_seconds",
      "gauge",
      "When the last scheduled gc started.",
      gc.lastRunAt === null ? [] : [[{}, seconds(gc.lastRunAt)]],
    );
    out.family(
      "freshmirror_gc_next_run_timestamp_seconds",
      "gauge",
      "When the next scheduled gc is due.",
      gc.nextRunAt === null ? [] : [[{}, seconds(gc.nextRunAt)]],
    );
  }
  out.family(
    "freshmirror_http_requests_total",
    "counter",
    "HTTP requests served, by route and status.",
    [...input.requests].map(([key, n]): [Record<string, string>, number] => {
      const at = key.lastIndexOf(" ");
      return [{ route: key.slice(0, at), status: key.slice(at + 1) }, n];
    }),
  );
  out.family(
    "freshmirror_http_response_bytes_total",
    "counter",
    "Response body bytes sent, by route.",
    [...input.bytes].map(([route, n]): [Record<string, string>, number] => [{ route }, n]),
  );
  out.family(
    "freshmirror_cache_requests_total",
    "counter",
    "File requests answered through the pull-through cache, by result (hit, miss, coalesced onto a download in flight).",
    [...input.cacheResults].map(([key, n]): [Record<string, string>, number] => {
      const at = key.lastIndexOf(" ");
      return [{ mirror: key.slice(0, at), result: key.slice(at + 1).toLowerCase() }, n];
    }),
  );
  if (input.upstreamFailures) {
    out.family(
      "freshmirror_upstream_failures_total",
      "counter",
      "Upstream failures met while serving on demand.",
      [...input.upstreamFailures].map(([mirror, f]): [Record<string, string>, number] => [
        { mirror },
        f.count,
      ]),
    );
  }
  if (input.upstreamBytes) {
    out.family(
      "freshmirror_upstream_bytes_total",
      "counter",
      "Bytes downloaded from upstream by this process (files, layers and blobs; syncs and on demand), by mirror.",
      [...input.upstreamBytes].map(([mirror, n]): [Record<string, string>, number] => [{ mirror }, n]),
    );
  }
  out.family("process_start_time_seconds", "gauge", "When the server started, in Unix seconds.", [
    [{}, seconds(input.startedAt)],
  ]);
  return out.toString();
}
