// The SQLite state: mirrors, published snapshots, their files, blobs, runs and locks.
// WAL mode so a `serve` process reads while a CLI `sync` writes; statements prepared once.
import { hostname } from "node:os";
import Database from "better-sqlite3";
import { isDiskFull, SyncLockedError } from "../errors.js";
import { MIGRATIONS } from "./migrations.js";
import { isProcessAlive, recordedProcessState, selfIdentity } from "./process-alive.js";

export type MirrorState = "none" | "pre-syncing" | "syncing" | "success" | "failed" | "paused" | "disabled";

export interface MirrorRow {
  name: string;
  state: MirrorState;
  lastSuccessAt: number | null;
  lastAttemptAt: number | null;
  lastEndedAt: number | null;
  nextRunAt: number | null;
  lastError: string | null;
  paused: boolean;
  /** The schedule slot the scheduler last started (or skipped) a run for. */
  lastScheduledAt: number | null;
  pausedAt: number | null;
}

interface MirrorRowSql {
  name: string;
  state: MirrorState;
  last_success_at: number | null;
  last_attempt_at: number | null;
  last_ended_at: number | null;
  next_run_at: number | null;
  last_error: string | null;
  paused: number;
  last_scheduled_at: number | null;
  paused_at: number | null;
}

function toMirrorRow(row: MirrorRowSql): MirrorRow {
  return {
    name: row.name,
    state: row.state,
    lastSuccessAt: row.last_success_at,
    lastAttemptAt: row.last_attempt_at,
    lastEndedAt: row.last_ended_at,
    nextRunAt: row.next_run_at,
    lastError: row.last_error,
    paused: row.paused === 1,
    lastScheduledAt: row.last_scheduled_at,
    pausedAt: row.paused_at,
  };
}

export interface LockHolder {
  pid: number;
  hostname: string;
  acquiredAt: number;
  /** "<boot>-<start ticks>" of the holder (see process-alive.ts); null in rows from before it was kept. */
  start: string | null;
}

interface LockSql {
  pid: number;
  hostname: string;
  acquired_at: number;
  holder_start: string | null;
}

function toLockHolder(row: LockSql): LockHolder {
  return { pid: row.pid, hostname: row.hostname, acquiredAt: row.acquired_at, start: row.holder_start };
}

/**
 * Whether the process holding a lock may still run. A holder on another host is taken to be alive
 * (this host cannot see its processes). Here, the pid must exist *and* have started at the
 * recorded time in this boot: a pid alone would say "alive" for a process that reused it, and for
 * a killed sync's lock read by the next container run, which is PID 1 again.
 */
export function isLockHolderAlive(holder: LockHolder): boolean {
  if (holder.hostname !== hostname()) return true;
  const self = selfIdentity();
  const recorded = /^([0-9a-f]{8})-(\d+)$/.exec(holder.start ?? "");
  if (!recorded) return holder.pid === process.pid || isProcessAlive(holder.pid);
  const identity = {
    host: self.host,
    boot: recorded[1] as string,
    pid: holder.pid,
    start: recorded[2] as string,
  };
  return recordedProcessState(identity, self) === "alive";
}

export interface FileRecord {
  /** The file's path under the mirror prefix, percent-decoded segments joined by "/". */
  path: string;
  /** Normalized project name. */
  project: string;
  filename: string;
  upstreamUrl: string;
  sha256: string;
  size: number;
  /** "index" when upstream published the hash, "computed" when freshmirror hashed an unhashed file. */
  hashSource: "index" | "computed";
  requiresPython: string | null;
  /** null when not yanked, otherwise the reason ("" for none). */
  yanked: string | null;
  uploadTime: string | null;
  metadataSha256: string | null;
  metadataSize: number | null;
  metadataSource: "upstream" | "extracted" | null;
}

export interface ProjectRecord {
  name: string;
  displayName: string;
  upstreamSerial: number | null;
  upstreamTimestamp: number | null;
  upstreamEtag: string | null;
}

export interface IndexPublication {
  idx: string;
  projects: ProjectRecord[];
  files: FileRecord[];
}

export interface CurrentSnapshot {
  idx: string;
  snapshotId: number;
  publishedAt: number;
  fileCount: number;
  totalSize: number;
}

export interface RunRow {
  id: number;
  mirror: string;
  kind: string;
  project: string | null;
  startedAt: number;
  endedAt: number | null;
  outcome: "running" | "success" | "failed";
  filesAdded: number;
  filesRemoved: number;
  bytesAdded: number;
  bytesRemoved: number;
  filesTotal: number;
  bytesTotal: number;
  upstreamRequests: number;
  error: string | null;
  warnings: string[];
  logPath: string | null;
}

export interface RunResult {
  outcome: "success" | "failed";
  filesAdded?: number;
  filesRemoved?: number;
  bytesAdded?: number;
  bytesRemoved?: number;
  filesTotal?: number;
  bytesTotal?: number;
  upstreamRequests?: number;
  error?: string | null;
  warnings?: string[];
}

export interface BlobRow {
  sha256: string;
  size: number;
  createdAt: number;
  lastAccessAt: number;
  origin: string;
}

const FILE_COLUMNS =
  "path, project, filename, upstream_url, sha256, size, hash_source, requires_python, yanked, upload_time, metadata_sha256, metadata_size, metadata_source";

interface FileRowSql {
  path: string;
  project: string;
  filename: string;
  upstream_url: string;
  sha256: string;
  size: number;
  hash_source: string;
  requires_python: string | null;
  yanked: string | null;
  upload_time: string | null;
  metadata_sha256: string | null;
  metadata_size: number | null;
  metadata_source: string | null;
}

function toFileRecord(row: FileRowSql): FileRecord {
  return {
    path: row.path,
    project: row.project,
    filename: row.filename,
    upstreamUrl: row.upstream_url,
    sha256: row.sha256,
    size: row.size,
    hashSource: row.hash_source === "computed" ? "computed" : "index",
    requiresPython: row.requires_python,
    yanked: row.yanked,
    uploadTime: row.upload_time,
    metadataSha256: row.metadata_sha256,
    metadataSize: row.metadata_size,
    metadataSource: (row.metadata_source as FileRecord["metadataSource"]) ?? null,
  };
}

interface RunRowSql {
  id: number;
  mirror: string;
  kind: string;
  project: string | null;
  started_at: number;
  ended_at: number | null;
  outcome: RunRow["outcome"];
  files_added: number;
  files_removed: number;
  bytes_added: number;
  bytes_removed: number;
  files_total: number;
  bytes_total: number;
  upstream_requests: number;
  error: string | null;
  warnings: string;
  log_path: string | null;
}

function toRunRow(row: RunRowSql): RunRow {
  return {
    id: row.id,
    mirror: row.mirror,
    kind: row.kind,
    project: row.project,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome,
    filesAdded: row.files_added,
    filesRemoved: row.files_removed,
    bytesAdded: row.bytes_added,
    bytesRemoved: row.bytes_removed,
    filesTotal: row.files_total,
    bytesTotal: row.bytes_total,
    upstreamRequests: row.upstream_requests,
    error: row.error,
    warnings: JSON.parse(row.warnings) as string[],
    logPath: row.log_path,
  };
}

export class StateStore {
  readonly db: Database.Database;
  readonly #stmts;

  constructor(path: string) {
    this.db = new Database(path);
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("busy_timeout = 5000");
      this.db.pragma("foreign_keys = ON");
      this.#migrate();
    } catch (error) {
      // A database that cannot be set up (read-only, full disk) must not stay open behind the error.
      this.db.close();
      throw error;
    }
    const db = this.db;
    this.#stmts = {
      ensureMirror: db.prepare("INSERT OR IGNORE INTO mirrors (name) VALUES (?)"),
      getMirror: db.prepare("SELECT * FROM mirrors WHERE name = ?"),
      listMirrors: db.prepare("SELECT * FROM mirrors ORDER BY name"),
      lastRunWithOutcome: db.prepare(
        "SELECT * FROM runs WHERE mirror = ? AND outcome = ? AND project IS NULL ORDER BY id DESC LIMIT 1",
      ),
      runOutcomeCounts: db.prepare(
        "SELECT mirror, outcome, COUNT(*) AS n FROM runs GROUP BY mirror, outcome",
      ),
      countRuns: db.prepare("SELECT COUNT(*) FROM runs WHERE mirror = ?").pluck(),
      allCurrentSnapshots: db.prepare(
        `SELECT c.mirror, c.idx, c.snapshot_id, c.published_at, s.file_count, s.total_size
         FROM current_snapshots c JOIN snapshots s ON s.id = c.snapshot_id ORDER BY c.mirror, c.idx`,
      ),
      dataVersion: db.prepare("PRAGMA data_version").pluck(),
      totalChanges: db.prepare("SELECT total_changes()").pluck(),
      currentSnapshotId: db
        .prepare("SELECT snapshot_id FROM current_snapshots WHERE mirror = ? AND idx = ?")
        .pluck(),
      currentSnapshots: db.prepare(
        `SELECT c.idx, c.snapshot_id, c.published_at, s.file_count, s.total_size
         FROM current_snapshots c JOIN snapshots s ON s.id = c.snapshot_id WHERE c.mirror = ? ORDER BY c.idx`,
      ),
      projects: db.prepare("SELECT * FROM projects WHERE snapshot_id = ? ORDER BY name"),
      project: db.prepare("SELECT * FROM projects WHERE snapshot_id = ? AND name = ?"),
      filesOfProject: db.prepare(
        `SELECT ${FILE_COLUMNS} FROM files WHERE snapshot_id = ? AND project = ? ORDER BY filename`,
      ),
      filesOfSnapshot: db.prepare(`SELECT ${FILE_COLUMNS} FROM files WHERE snapshot_id = ?`),
      fileByPath: db.prepare(
        `SELECT ${FILE_COLUMNS} FROM files WHERE path = ? AND snapshot_id IN
         (SELECT snapshot_id FROM current_snapshots WHERE mirror = ?) LIMIT 1`,
      ),
      insertSnapshot: db.prepare(
        "INSERT INTO snapshots (mirror, idx, run_id, created_at, file_count, total_size) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      setCurrent: db.prepare(
        `INSERT INTO current_snapshots (mirror, idx, snapshot_id, published_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (mirror, idx) DO UPDATE SET snapshot_id = excluded.snapshot_id, published_at = excluded.published_at`,
      ),
      insertProject: db.prepare(
        `INSERT INTO projects (snapshot_id, name, display_name, upstream_serial, upstream_timestamp, upstream_etag)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      insertFile: db.prepare(
        `INSERT OR REPLACE INTO files (snapshot_id, ${FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      staleSnapshots: db.prepare(
        `SELECT id FROM snapshots WHERE mirror = ? AND idx = ? AND id NOT IN
         (SELECT id FROM snapshots WHERE mirror = ? AND idx = ? ORDER BY id DESC LIMIT ?)`,
      ),
      deleteSnapshotFiles: db.prepare("DELETE FROM files WHERE snapshot_id = ?"),
      deleteSnapshotProjects: db.prepare("DELETE FROM projects WHERE snapshot_id = ?"),
      deleteSnapshot: db.prepare("DELETE FROM snapshots WHERE id = ?"),
      upsertBlob: db.prepare(
        `INSERT INTO blobs (sha256, size, created_at, last_access_at, origin) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sha256) DO UPDATE SET last_access_at = excluded.last_access_at`,
      ),
      getBlob: db.prepare(
        "SELECT sha256, size, created_at, last_access_at, origin FROM blobs WHERE sha256 = ?",
      ),
      touchBlob: db.prepare("UPDATE blobs SET last_access_at = ? WHERE sha256 = ?"),
      deleteBlob: db.prepare("DELETE FROM blobs WHERE sha256 = ?"),
      unreferencedBlobs: db.prepare(
        `SELECT sha256, size, created_at, last_access_at, origin FROM blobs b
         WHERE b.last_access_at < ?
           AND NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = b.sha256)
           AND NOT EXISTS (SELECT 1 FROM files f WHERE f.metadata_sha256 = b.sha256)
         ORDER BY b.last_access_at`,
      ),
      insertRun: db.prepare(
        "INSERT INTO runs (mirror, kind, project, started_at, outcome, log_path) VALUES (?, ?, ?, ?, 'running', ?)",
      ),
      finishRun: db.prepare(
        `UPDATE runs SET ended_at = @endedAt, outcome = @outcome, files_added = @filesAdded, files_removed = @filesRemoved,
         bytes_added = @bytesAdded, bytes_removed = @bytesRemoved, files_total = @filesTotal, bytes_total = @bytesTotal,
         upstream_requests = @upstreamRequests, error = @error, warnings = @warnings WHERE id = @id`,
      ),
      getRun: db.prepare("SELECT * FROM runs WHERE id = ?"),
      listRuns: db.prepare("SELECT * FROM runs WHERE mirror = ? AND id < ? ORDER BY id DESC LIMIT ?"),
      abandonRuns: db.prepare(
        "UPDATE runs SET outcome = 'failed', ended_at = ?, error = ? WHERE mirror = ? AND outcome = 'running'",
      ),
      getLock: db.prepare("SELECT * FROM locks WHERE name = ?"),
      putLock: db.prepare(
        "INSERT OR REPLACE INTO locks (name, pid, hostname, acquired_at, run_id, holder_start) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      releaseLock: db.prepare("DELETE FROM locks WHERE name = ? AND pid = ? AND hostname = ?"),
    };
  }

  #migrate(): void {
    const applied = this.db.pragma("user_version", { simple: true }) as number;
    for (let i = applied; i < MIGRATIONS.length; i++) {
      const sql = MIGRATIONS[i] as string;
      this.db.transaction(() => {
        this.db.exec(sql);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  // -- mirrors ------------------------------------------------------------------------------

  ensureMirror(name: string): void {
    this.#stmts.ensureMirror.run(name);
  }

  getMirror(name: string): MirrorRow {
    this.ensureMirror(name);
    return toMirrorRow(this.#stmts.getMirror.get(name) as MirrorRowSql);
  }

  /** Every mirror row, without creating any (a read-only query, safe for status pages). */
  listMirrorRows(): MirrorRow[] {
    return (this.#stmts.listMirrors.all() as MirrorRowSql[]).map(toMirrorRow);
  }

  updateMirror(name: string, patch: Partial<Omit<MirrorRow, "name">>): void {
    this.ensureMirror(name);
    const columns: Record<string, string> = {
      state: "state",
      lastSuccessAt: "last_success_at",
      lastAttemptAt: "last_attempt_at",
      lastEndedAt: "last_ended_at",
      nextRunAt: "next_run_at",
      lastError: "last_error",
      paused: "paused",
      lastScheduledAt: "last_scheduled_at",
      pausedAt: "paused_at",
    };
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, value] of Object.entries(patch)) {
      const column = columns[key];
      if (column === undefined || value === undefined) continue;
      sets.push(`${column} = ?`);
      values.push(typeof value === "boolean" ? (value ? 1 : 0) : value);
    }
    if (sets.length === 0) return;
    this.db.prepare(`UPDATE mirrors SET ${sets.join(", ")} WHERE name = ?`).run(...values, name);
  }

  // -- snapshots ----------------------------------------------------------------------------

  currentSnapshotId(mirror: string, idx: string): number | undefined {
    return this.#stmts.currentSnapshotId.get(mirror, idx) as number | undefined;
  }

  currentSnapshots(mirror: string): CurrentSnapshot[] {
    return (
      this.#stmts.currentSnapshots.all(mirror) as {
        idx: string;
        snapshot_id: number;
        published_at: number;
        file_count: number;
        total_size: number;
      }[]
    ).map((r) => ({
      idx: r.idx,
      snapshotId: r.snapshot_id,
      publishedAt: r.published_at,
      fileCount: r.file_count,
      totalSize: r.total_size,
    }));
  }

  /** Every mirror's current snapshots, in one query. */
  allCurrentSnapshots(): Map<string, CurrentSnapshot[]> {
    const byMirror = new Map<string, CurrentSnapshot[]>();
    for (const r of this.#stmts.allCurrentSnapshots.all() as {
      mirror: string;
      idx: string;
      snapshot_id: number;
      published_at: number;
      file_count: number;
      total_size: number;
    }[]) {
      let list = byMirror.get(r.mirror);
      if (!list) {
        list = [];
        byMirror.set(r.mirror, list);
      }
      list.push({
        idx: r.idx,
        snapshotId: r.snapshot_id,
        publishedAt: r.published_at,
        fileCount: r.file_count,
        totalSize: r.total_size,
      });
    }
    return byMirror;
  }

  /**
   * Changes whenever anything was written to the database, by this connection or another
   * (PRAGMA data_version for others' commits, total_changes() for this connection's).
   */
  changeStamp(): string {
    return `${this.#stmts.dataVersion.get() as number}:${this.#stmts.totalChanges.get() as number}`;
  }

  projects(snapshotId: number): ProjectRecord[] {
    return (this.#stmts.projects.all(snapshotId) as ProjectRowSql[]).map(toProjectRecord);
  }

  project(snapshotId: number, name: string): ProjectRecord | undefined {
    const row = this.#stmts.project.get(snapshotId, name) as ProjectRowSql | undefined;
    return row && toProjectRecord(row);
  }

  filesOfProject(snapshotId: number, project: string): FileRecord[] {
    return (this.#stmts.filesOfProject.all(snapshotId, project) as FileRowSql[]).map(toFileRecord);
  }

  filesOfSnapshot(snapshotId: number): FileRecord[] {
    return (this.#stmts.filesOfSnapshot.all(snapshotId) as FileRowSql[]).map(toFileRecord);
  }

  /** A file (or the file a `.metadata` path belongs to) in any current snapshot of the mirror. */
  fileByPath(mirror: string, path: string): FileRecord | undefined {
    const row = this.#stmts.fileByPath.get(path, mirror) as FileRowSql | undefined;
    return row && toFileRecord(row);
  }

  /**
   * Publishes new snapshots of the given indexes in one transaction: either every index of the
   * run becomes current, or none does. Older generations beyond `keep` are dropped (their blobs
   * become garbage for `gc` once no snapshot lists them).
   */
  publish(
    mirror: string,
    runId: number | null,
    indexes: IndexPublication[],
    now: number,
    keep = 2,
  ): number[] {
    const s = this.#stmts;
    return this.db.transaction(() => {
      const ids: number[] = [];
      for (const index of indexes) {
        const totalSize = index.files.reduce((sum, f) => sum + f.size, 0);
        const snapshotId = Number(
          s.insertSnapshot.run(mirror, index.idx, runId, now, index.files.length, totalSize).lastInsertRowid,
        );
        for (const p of index.projects) {
          s.insertProject.run(
            snapshotId,
            p.name,
            p.displayName,
            p.upstreamSerial,
            p.upstreamTimestamp,
            p.upstreamEtag,
          );
        }
        for (const f of index.files) {
          s.insertFile.run(
            snapshotId,
            f.path,
            f.project,
            f.filename,
            f.upstreamUrl,
            f.sha256,
            f.size,
            f.hashSource,
            f.requiresPython,
            f.yanked,
            f.uploadTime,
            f.metadataSha256,
            f.metadataSize,
            f.metadataSource,
          );
        }
        s.setCurrent.run(mirror, index.idx, snapshotId, now);
        for (const stale of s.staleSnapshots.all(mirror, index.idx, mirror, index.idx, keep) as {
          id: number;
        }[]) {
          s.deleteSnapshotFiles.run(stale.id);
          s.deleteSnapshotProjects.run(stale.id);
          s.deleteSnapshot.run(stale.id);
        }
        ids.push(snapshotId);
      }
      return ids;
    })();
  }

  // -- blobs --------------------------------------------------------------------------------

  recordBlob(sha256: string, size: number, origin: string, now: number): void {
    this.#stmts.upsertBlob.run(sha256, size, now, now, origin);
  }

  getBlob(sha256: string): BlobRow | undefined {
    const row = this.#stmts.getBlob.get(sha256) as
      | { sha256: string; size: number; created_at: number; last_access_at: number; origin: string }
      | undefined;
    return (
      row && {
        sha256: row.sha256,
        size: row.size,
        createdAt: row.created_at,
        lastAccessAt: row.last_access_at,
        origin: row.origin,
      }
    );
  }

  /** The digests of every blob the store has recorded. */
  blobDigests(): Set<string> {
    return new Set(this.db.prepare("SELECT sha256 FROM blobs").pluck().all() as string[]);
  }

  /** Best effort: an access time only orders eviction, so a full disk must not fail a read. */
  touchBlob(sha256: string, now: number): void {
    try {
      this.#stmts.touchBlob.run(now, sha256);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  deleteBlob(sha256: string): void {
    this.#stmts.deleteBlob.run(sha256);
  }

  /** Blobs no snapshot lists (as a file or as core metadata), last used before `before`. */
  unreferencedBlobs(before: number): BlobRow[] {
    return (
      this.#stmts.unreferencedBlobs.all(before) as {
        sha256: string;
        size: number;
        created_at: number;
        last_access_at: number;
        origin: string;
      }[]
    ).map((row) => ({
      sha256: row.sha256,
      size: row.size,
      createdAt: row.created_at,
      lastAccessAt: row.last_access_at,
      origin: row.origin,
    }));
  }

  // -- runs ---------------------------------------------------------------------------------

  startRun(
    mirror: string,
    kind: string,
    project: string | null,
    now: number,
    logPath: string | null,
  ): number {
    return Number(this.#stmts.insertRun.run(mirror, kind, project, now, logPath).lastInsertRowid);
  }

  finishRun(id: number, result: RunResult, now: number): void {
    this.#stmts.finishRun.run({
      id,
      endedAt: now,
      outcome: result.outcome,
      filesAdded: result.filesAdded ?? 0,
      filesRemoved: result.filesRemoved ?? 0,
      bytesAdded: result.bytesAdded ?? 0,
      bytesRemoved: result.bytesRemoved ?? 0,
      filesTotal: result.filesTotal ?? 0,
      bytesTotal: result.bytesTotal ?? 0,
      upstreamRequests: result.upstreamRequests ?? 0,
      error: result.error ?? null,
      warnings: JSON.stringify(result.warnings ?? []),
    });
  }

  getRun(id: number): RunRow | undefined {
    const row = this.#stmts.getRun.get(id) as RunRowSql | undefined;
    return row && toRunRow(row);
  }

  listRuns(mirror: string, limit: number, beforeId = Number.MAX_SAFE_INTEGER): RunRow[] {
    return (this.#stmts.listRuns.all(mirror, beforeId, limit) as RunRowSql[]).map(toRunRow);
  }

  /** The latest full-mirror run (not a one-project run) with this outcome. */
  lastFullRun(mirror: string, outcome: RunRow["outcome"]): RunRow | undefined {
    const row = this.#stmts.lastRunWithOutcome.get(mirror, outcome) as RunRowSql | undefined;
    return row && toRunRow(row);
  }

  /** How many runs each mirror has had, by outcome. */
  runOutcomeCounts(): { mirror: string; outcome: RunRow["outcome"]; count: number }[] {
    return (
      this.#stmts.runOutcomeCounts.all() as { mirror: string; outcome: RunRow["outcome"]; n: number }[]
    ).map((r) => ({ mirror: r.mirror, outcome: r.outcome, count: r.n }));
  }

  countRuns(mirror: string): number {
    return this.#stmts.countRuns.get(mirror) as number;
  }

  /** Marks runs left "running" by a killed process as failed. */
  abandonRuns(mirror: string, now: number, reason: string): void {
    this.#stmts.abandonRuns.run(now, reason, mirror);
  }

  // -- locks --------------------------------------------------------------------------------

  /**
   * Takes the named lock for this process, across processes sharing the database. A lock whose
   * holder is gone (killed) is taken over. Throws SyncLockedError when a live process holds it.
   */
  acquireLock(name: string, now: number): { tookOverFrom: number | null } {
    const host = hostname();
    return this.db
      .transaction(() => {
        const held = this.#stmts.getLock.get(name) as LockSql | undefined;
        let tookOverFrom: number | null = null;
        if (held) {
          // This very process holding it counts as alive too: a second sync here must wait.
          if (isLockHolderAlive(toLockHolder(held))) {
            throw new SyncLockedError(
              name.replace(/^sync:/, ""), // the error names the mirror, not the lock
              `held by pid ${held.pid} on ${held.hostname} since ${new Date(held.acquired_at).toISOString()}`,
            );
          }
          tookOverFrom = held.pid;
        }
        const self = selfIdentity();
        this.#stmts.putLock.run(name, process.pid, host, now, null, `${self.boot}-${self.start}`);
        return { tookOverFrom };
      })
      .immediate();
  }

  /** Who holds the named lock, if anyone (alive or not). */
  lockHolder(name: string): LockHolder | undefined {
    const held = this.#stmts.getLock.get(name) as LockSql | undefined;
    return held && toLockHolder(held);
  }

  releaseLock(name: string): void {
    this.#stmts.releaseLock.run(name, process.pid, hostname());
  }
}

interface ProjectRowSql {
  name: string;
  display_name: string;
  upstream_serial: number | null;
  upstream_timestamp: number | null;
  upstream_etag: string | null;
}

function toProjectRecord(row: ProjectRowSql): ProjectRecord {
  return {
    name: row.name,
    displayName: row.display_name,
    upstreamSerial: row.upstream_serial,
    upstreamTimestamp: row.upstream_timestamp,
    upstreamEtag: row.upstream_etag,
  };
}
