// What each mirror's status is, computed once from the config and the state store for every
// view of it: the status page, the JSON API, /jobs (tunasync), /mirrorz.json, /metrics and
// `freshmirror status`.
//
// Lag: how long upstream has had something the mirror still lacks.
// - A watched mirror (`watch:` set) knows: the watcher records when it first saw each upstream
//   change and a sync records when it published it (the lag store); the lag is the age of the
//   oldest change not yet published, 0 when none is pending.
// - An unwatched mirror cannot know when upstream changed, so its lag is the age of what the
//   last successful full sync saw: now minus the *start* of that run (everything upstream had
//   before it started is in the snapshot; anything after may be missing), an upper bound.
// Proxy mirrors fetch on demand and have no lag figure.
// - While upstream cannot be read (the last sync or watch cycle failed to read its pages), the
//   lag is unknown: no figure (null), level "unknown", with since when and the last good look.
//   A figure then would be one nobody checked (a watched mirror would show a green 0).
import type { Config, MirrorConfig } from "../config/schema.js";
import type {
  CurrentSnapshot,
  MirrorRow,
  MirrorState,
  RunRow,
  StateRepositories,
  UpstreamCheck,
} from "../store/state-repositories.js";
import { redactUrl } from "../upstream/redact-url.js";
import { describeSchedule } from "./cron-schedule.js";

export type LagLevel = "ok" | "warn" | "critical" | "unknown";

/** Where a lag figure comes from: the watcher's change records, or the last sync's age. */
export type LagBasis = "watch" | "last-sync";

export interface MirrorStatus {
  name: string;
  type: string;
  mode: "mirror" | "proxy";
  description: string | undefined;
  upstream: string;
  indexes: readonly string[];
  /** tunasync's states; paused and disabled come from the config or the API. */
  state: MirrorState;
  /** "0 2 * * * (local time)", "every 6h", or null when the mirror has no schedule. */
  schedule: string | null;
  lastSuccessAt: number | null;
  lastAttemptAt: number | null;
  lastEndedAt: number | null;
  nextRunAt: number | null;
  pausedAt: number | null;
  lastError: string | null;
  fileCount: number;
  totalSize: number;
  /** When the newest snapshot of any index became current. */
  publishedAt: number | null;
  lagMs: number | null;
  lagLevel: LagLevel | null;
  lagBasis: LagBasis | null;
  /** What the lag is counted from (null: no lag figure, or nothing pending): lagMs = now − lagSince. */
  lagSince: number | null;
  lagWarnMs: number;
  lagCriticalMs: number;
  /** Whether upstream's pages could be read at the last look; null before any look (and for proxies). */
  upstreamUp: boolean | null;
  /** The last time upstream's pages were read. */
  upstreamCheckedAt: number | null;
  /** Since when upstream has not been readable (then the lag is unknown); null while it is. */
  upstreamFailingSince: number | null;
  /** Why not, root cause first. */
  upstreamError: string | null;
  /** The latest run of any kind, if any. */
  lastRun: RunRow | undefined;
  /** How long the latest finished run took. */
  lastDurationMs: number | null;
}

export function effectiveState(config: MirrorConfig, row: MirrorRow | undefined): MirrorState {
  if (config.disabled) return "disabled";
  const state = row?.state ?? "none";
  if (state === "syncing" || state === "pre-syncing") return state;
  if (config.paused || row?.paused) return "paused";
  return state;
}

/** The age of the last successful full sync's view of upstream (the unwatched lag). */
export function lagOf(
  config: MirrorConfig,
  lastFullSuccess: RunRow | undefined,
  lastSuccessAt: number | null,
  now: number,
): number | null {
  if (config.mode === "proxy") return null;
  const since = lastFullSuccess?.startedAt ?? lastSuccessAt;
  return since === null ? null : Math.max(0, now - since);
}

export function lagBasisOf(config: MirrorConfig): LagBasis | null {
  if (config.mode === "proxy") return null;
  return config.watchMs === undefined ? "last-sync" : "watch";
}

export function lagLevelOf(config: MirrorConfig, lagMs: number | null): Exclude<LagLevel, "unknown"> | null {
  if (lagMs === null) return null;
  if (lagMs >= config.lagCriticalMs) return "critical";
  if (lagMs >= config.lagWarnMs) return "warn";
  return "ok";
}

/**
 * A row left "syncing" by a process that was killed (kill -9 of a CLI sync) stays so until the
 * next sync takes over its lock. Every view reads through this: when the lock's holder is provably
 * gone, the run was interrupted, and the row is shown as the runner records such a run (failed).
 * Nothing is written here: `freshmirror status` is read-only; the next sync records it.
 */
export async function interruptedRow(
  state: Pick<StateRepositories, "locks">,
  row: MirrorRow | undefined,
): Promise<MirrorRow | undefined> {
  if (row === undefined || (row.state !== "syncing" && row.state !== "pre-syncing")) return row;
  const holder = await state.locks.holder(`sync:${row.name}`);
  // No lock: a sync is about to take it (pre-syncing) or has just released it; not a crash.
  if (holder === undefined || (await state.locks.isHolderAlive(holder))) return row;
  if (row.state === "pre-syncing") return row;
  return {
    ...row,
    state: "failed",
    lastError: `interrupted: the process running it (pid ${holder.pid}) exited before it finished`,
  };
}

/** `snapshots` and `check` are read when not given (collectMirrorStatuses reads all in one query). */
export async function mirrorStatus(
  config: MirrorConfig,
  row: MirrorRow | undefined,
  state: StateRepositories,
  now: number,
  given?: { snapshots: readonly CurrentSnapshot[]; check: UpstreamCheck | undefined },
): Promise<MirrorStatus> {
  const snapshots = given ? given.snapshots : await state.snapshots.currentSnapshots(config.name);
  const check = given ? given.check : await state.lag.check(config.name);
  row = await interruptedRow(state, row);
  // What a registry mirror keeps through its manifests beyond its snapshots (pulled through).
  const cached = await state.manifests.cachedBeyondSnapshots(config.name);
  const lastFullSuccess = await state.runs.lastFull(config.name, "success");
  const basis = lagBasisOf(config);
  const lastSuccessAt = row?.lastSuccessAt ?? null;
  const measured =
    basis === "watch" && lastSuccessAt !== null
      ? await state.lag.lagMs(config.name, now)
      : lagOf(config, lastFullSuccess, lastSuccessAt, now);
  const checked = config.mode === "mirror" && check !== undefined;
  const failingSince = checked ? check.failingSince : null;
  const unknown = failingSince !== null && measured !== null;
  const lagMs = unknown ? null : measured;
  const lagSince = lagMs === null || lagMs === 0 ? null : now - lagMs;
  const scheduled = config.mode === "mirror" && !config.disabled;
  const recent = await state.runs.list(config.name, 2);
  const lastFinished = recent.find((r) => r.endedAt !== null);
  return {
    name: config.name,
    type: config.type,
    mode: config.mode,
    description: config.description,
    upstream: redactUrl(config.upstream),
    // What a PyPI-style mirror serves; other kinds name none.
    // A kind without configured indexes (OCI: one snapshot per repository) shows what it publishes.
    indexes: (config as { indexes?: readonly string[] }).indexes ?? snapshots.map((s) => s.idx),
    state: effectiveState(config, row),
    schedule: scheduled ? describeSchedule(config.schedule) : null,
    lastSuccessAt: row?.lastSuccessAt ?? null,
    lastAttemptAt: row?.lastAttemptAt ?? null,
    lastEndedAt: row?.lastEndedAt ?? null,
    nextRunAt: row?.nextRunAt ?? null,
    pausedAt: config.paused || row?.paused ? (row?.pausedAt ?? null) : null,
    lastError: row?.lastError ?? null,
    fileCount: snapshots.reduce((sum, s) => sum + s.fileCount, 0) + cached.count,
    totalSize: snapshots.reduce((sum, s) => sum + s.totalSize, 0) + cached.bytes,
    publishedAt: snapshots.length === 0 ? null : Math.max(...snapshots.map((s) => s.publishedAt)),
    lagMs,
    lagLevel: unknown ? "unknown" : lagLevelOf(config, lagMs),
    lagBasis: measured === null ? null : basis,
    lagSince,
    lagWarnMs: config.lagWarnMs,
    lagCriticalMs: config.lagCriticalMs,
    upstreamUp: checked ? failingSince === null : null,
    upstreamCheckedAt: checked ? check.lastOkAt : null,
    upstreamFailingSince: failingSince,
    upstreamError: checked ? check.lastError : null,
    lastRun: recent[0],
    lastDurationMs:
      lastFinished?.endedAt === undefined || lastFinished.endedAt === null
        ? null
        : lastFinished.endedAt - lastFinished.startedAt,
  };
}

/** Every configured mirror's status, in config order. Read-only: creates no rows. */
export async function collectMirrorStatuses(
  config: Config,
  state: StateRepositories,
  now = Date.now(),
): Promise<MirrorStatus[]> {
  const rows = new Map((await state.mirrors.list()).map((r) => [r.name, r]));
  const snapshots = await state.snapshots.allCurrentSnapshots();
  const checks = await state.lag.allChecks();
  return Promise.all(
    config.mirrors.map((m) =>
      mirrorStatus(m, rows.get(m.name), state, now, {
        snapshots: snapshots.get(m.name) ?? [],
        check: checks.get(m.name),
      }),
    ),
  );
}

export interface LagPoint {
  at: number;
  lagMs: number;
}

/**
 * Lag over time of a watched mirror from its change records: each published change at its
 * publish time (published − first seen), and the oldest pending change now.
 */
export async function watchedLagHistory(
  state: Pick<StateRepositories, "lag">,
  mirror: string,
  now: number,
  limit = 200,
): Promise<LagPoint[]> {
  const lag = state.lag;
  const samples = await lag.history(mirror, limit);
  const points = samples
    .filter((s) => s.publishedAt !== null)
    .map((s) => ({ at: s.publishedAt as number, lagMs: (s.publishedAt as number) - s.firstSeenAt }))
    .sort((a, b) => a.at - b.at);
  points.push({ at: now, lagMs: await lag.lagMs(mirror, now) });
  return points;
}

/**
 * Lag over time from the run history (oldest first), a sawtooth: it grows until a successful
 * full sync publishes, then drops to that sync's own duration (what it saw at its start).
 */
export function lagHistory(runsOldestFirst: readonly RunRow[], now: number): LagPoint[] {
  const points: LagPoint[] = [];
  let since: number | null = null;
  for (const run of runsOldestFirst) {
    if (run.outcome !== "success" || run.project !== null || run.endedAt === null) continue;
    if (since !== null) points.push({ at: run.endedAt, lagMs: run.endedAt - since });
    points.push({ at: run.endedAt, lagMs: run.endedAt - run.startedAt });
    since = run.startedAt;
  }
  if (since !== null) points.push({ at: now, lagMs: Math.max(0, now - since) });
  return points;
}

/** The same status at another moment: only the lag moves with the clock. */
export function statusAt(status: MirrorStatus, now: number, config: MirrorConfig): MirrorStatus {
  if (status.lagSince === null) return status;
  const lagMs = Math.max(0, now - status.lagSince);
  return { ...status, lagMs, lagLevel: lagLevelOf(config, lagMs) };
}

/**
 * The statuses, read from the database again only when it changed (a write by this process or
 * another), otherwise brought to the current time: a status page polled by many browsers, /jobs
 * and /metrics scraped often, all share one reading.
 */
export class MirrorStatusCache {
  readonly #config: Config;
  readonly #state: StateRepositories;
  #cached: { at: number; stamp: string; statuses: MirrorStatus[] } | undefined;

  constructor(config: Config, state: StateRepositories) {
    this.#config = config;
    this.#state = state;
  }

  /**
   * Two calls may read at once; the later to finish keeps its reading, even if older (its stamp
   * then no longer matches, and the next call reads again), so nothing stale is served for long.
   */
  async get(now = Date.now()): Promise<MirrorStatus[]> {
    const stamp = await this.#state.snapshots.changeStamp();
    const hit = this.#cached;
    if (hit && hit.stamp === stamp && !(await this.#orphaned(hit.statuses))) {
      if (hit.at === now) return hit.statuses;
      return hit.statuses.map((s, i) => statusAt(s, now, this.#config.mirrors[i] as MirrorConfig));
    }
    const statuses = await collectMirrorStatuses(this.#config, this.#state, now);
    this.#cached = { at: now, stamp, statuses };
    return statuses;
  }

  /**
   * A sync killed with -9 changes nothing in the database, so a status cached while it ran
   * would say "syncing" for ever: while any mirror syncs, check that its holder still lives.
   */
  async #orphaned(statuses: readonly MirrorStatus[]): Promise<boolean> {
    for (const s of statuses) {
      if (s.state !== "syncing") continue;
      const holder = await this.#state.locks.holder(`sync:${s.name}`);
      if (holder !== undefined && !(await this.#state.locks.isHolderAlive(holder))) return true;
    }
    return false;
  }
}
