// The state store: the SQLite composition of the state repositories (mirrors, snapshots, blobs,
// runs, locks, lag, pull-through cache, manifests) over one database. Callers use the
// repositories (`state.mirrors.get(...)`); nothing outside src/store/sqlite sees the database.
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
  LagRepository,
  ManifestRepository,
  MirrorRepository,
  ProxyCacheRepository,
  RunRepository,
  SnapshotRepository,
  StateRepositories,
  SyncLocks,
} from "./state-repositories.js";

// The row types' old home: callers import them from here or from state-repositories.ts.
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
}
