// The state store: the repositories (mirrors, snapshots, blobs, runs, locks, lag, pull-through
// cache) over one SQLite database, plus the methods callers used before the split, delegating.
// Nothing outside src/store/sqlite sees the database itself.
import { SqliteBlobRepository } from "./sqlite/sqlite-blob-repository.js";
import { openSqliteDatabase, type SqliteDatabase } from "./sqlite/sqlite-database.js";
import { SqliteLagRepository } from "./sqlite/sqlite-lag-repository.js";
import { SqliteManifestRepository } from "./sqlite/sqlite-manifest-repository.js";
import { SqliteMirrorRepository } from "./sqlite/sqlite-mirror-repository.js";
import { SqliteProxyCacheRepository } from "./sqlite/sqlite-proxy-cache-repository.js";
import { SqliteRunRepository } from "./sqlite/sqlite-run-repository.js";
import { SqliteSnapshotRepository } from "./sqlite/sqlite-snapshot-repository.js";
import { SqliteSyncLocks } from "./sqlite/sqlite-sync-locks.js";
import type {
  BlobRepository,
  BlobRow,
  CurrentSnapshot,
  FileRecord,
  IndexPublication,
  LagRepository,
  LockHolder,
  ManifestRepository,
  MirrorRepository,
  MirrorRow,
  ProjectRecord,
  ProxyCacheRepository,
  RunRepository,
  RunResult,
  RunRow,
  SnapshotRepository,
  StateRepositories,
  SyncLocks,
} from "./state-repositories.js";

// The row types' old home: callers import them from here or from state-repositories.ts.
export { isLockHolderAlive } from "./lock-holder.js";
export type {
  BlobRow,
  CurrentSnapshot,
  FileRecord,
  IndexPublication,
  LockHolder,
  MirrorRow,
  MirrorState,
  ProjectRecord,
  RunResult,
  RunRow,
} from "./state-repositories.js";

export class StateStore implements StateRepositories {
  readonly mirrors: MirrorRepository;
  readonly snapshots: SnapshotRepository;
  readonly blobs: BlobRepository;
  readonly runs: RunRepository;
  readonly locks: SyncLocks;
  readonly lag: LagRepository;
  readonly proxyCache: ProxyCacheRepository;
  readonly manifests: ManifestRepository;
  /**
   * The database file, for a worker thread that opens its own connection (the page worker);
   * undefined for an in-memory database.
   */
  readonly sqlitePath: string | undefined;
  readonly #db: SqliteDatabase;

  constructor(path: string) {
    this.#db = openSqliteDatabase(path);
    const db = this.#db;
    this.sqlitePath = db.name === "" || db.name === ":memory:" ? undefined : db.name;
    this.mirrors = new SqliteMirrorRepository(db);
    this.snapshots = new SqliteSnapshotRepository(db);
    this.blobs = new SqliteBlobRepository(db);
    this.runs = new SqliteRunRepository(db);
    this.locks = new SqliteSyncLocks(db);
    this.lag = new SqliteLagRepository(db);
    this.proxyCache = new SqliteProxyCacheRepository(db);
    this.manifests = new SqliteManifestRepository(db);
  }

  close(): void {
    this.#db.close();
  }

  /** Runs `work` as one transaction: its writes land together or not at all. */
  atomically<T>(work: () => T): T {
    return this.#db.transaction(work)();
  }

  // -- mirrors ------------------------------------------------------------------------------

  ensureMirror(name: string): void {
    this.mirrors.ensure(name);
  }

  getMirror(name: string): MirrorRow {
    return this.mirrors.get(name);
  }

  /** Every mirror row, without creating any (a read-only query, safe for status pages). */
  listMirrorRows(): MirrorRow[] {
    return this.mirrors.list();
  }

  updateMirror(name: string, patch: Partial<Omit<MirrorRow, "name">>): void {
    this.mirrors.update(name, patch);
  }

  // -- snapshots ----------------------------------------------------------------------------

  currentSnapshotId(mirror: string, idx: string): number | undefined {
    return this.snapshots.currentSnapshotId(mirror, idx);
  }

  currentSnapshots(mirror: string): CurrentSnapshot[] {
    return this.snapshots.currentSnapshots(mirror);
  }

  allCurrentSnapshots(): Map<string, CurrentSnapshot[]> {
    return this.snapshots.allCurrentSnapshots();
  }

  changeStamp(): string {
    return this.snapshots.changeStamp();
  }

  projects(snapshotId: number): ProjectRecord[] {
    return this.snapshots.projects(snapshotId);
  }

  project(snapshotId: number, name: string): ProjectRecord | undefined {
    return this.snapshots.project(snapshotId, name);
  }

  filesOfProject(snapshotId: number, project: string): FileRecord[] {
    return this.snapshots.filesOfProject(snapshotId, project);
  }

  filesOfSnapshot(snapshotId: number): FileRecord[] {
    return this.snapshots.filesOfSnapshot(snapshotId);
  }

  fileByPath(mirror: string, path: string): FileRecord | undefined {
    return this.snapshots.fileByPath(mirror, path);
  }

  publish(
    mirror: string,
    runId: number | null,
    indexes: IndexPublication[],
    now: number,
    keep = 2,
  ): number[] {
    return this.snapshots.publish(mirror, runId, indexes, now, keep);
  }

  // -- blobs --------------------------------------------------------------------------------

  recordBlob(sha256: string, size: number, origin: string, now: number): void {
    this.blobs.record(sha256, size, origin, now);
  }

  getBlob(sha256: string): BlobRow | undefined {
    return this.blobs.get(sha256);
  }

  blobDigests(): Set<string> {
    return this.blobs.digests();
  }

  touchBlob(sha256: string, now: number): void {
    this.blobs.touch(sha256, now);
  }

  deleteBlob(sha256: string): void {
    this.blobs.delete(sha256);
  }

  unreferencedBlobs(before: number): BlobRow[] {
    return this.blobs.unreferenced(before);
  }

  // -- runs ---------------------------------------------------------------------------------

  startRun(
    mirror: string,
    kind: string,
    project: string | null,
    now: number,
    logPath: string | null,
  ): number {
    return this.runs.start(mirror, kind, project, now, logPath);
  }

  setRunLogPath(id: number, logPath: string): void {
    this.runs.setLogPath(id, logPath);
  }

  finishRun(id: number, result: RunResult, now: number): void {
    this.runs.finish(id, result, now);
  }

  getRun(id: number): RunRow | undefined {
    return this.runs.get(id);
  }

  listRuns(mirror: string, limit: number, beforeId = Number.MAX_SAFE_INTEGER): RunRow[] {
    return this.runs.list(mirror, limit, beforeId);
  }

  lastFullRun(mirror: string, outcome: RunRow["outcome"]): RunRow | undefined {
    return this.runs.lastFull(mirror, outcome);
  }

  runOutcomeCounts(): { mirror: string; outcome: RunRow["outcome"]; count: number }[] {
    return this.runs.outcomeCounts();
  }

  countRuns(mirror: string): number {
    return this.runs.count(mirror);
  }

  abandonRuns(mirror: string, now: number, reason: string): void {
    this.runs.abandon(mirror, now, reason);
  }

  // -- locks --------------------------------------------------------------------------------

  acquireLock(name: string, now: number): { tookOverFrom: number | null } {
    return this.locks.acquire(name, now);
  }

  lockHolder(name: string): LockHolder | undefined {
    return this.locks.holder(name);
  }

  releaseLock(name: string): void {
    this.locks.release(name);
  }
}
