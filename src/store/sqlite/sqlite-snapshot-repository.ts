// Published snapshots of a mirror's indexes, with their projects and files, in SQLite.
import { SnapshotBlobsGoneError } from "../../errors.js";
import type {
  CurrentSnapshot,
  FileRecord,
  IndexPublication,
  ProjectRecord,
  SnapshotRepository,
} from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

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

export class SqliteSnapshotRepository implements SnapshotRepository {
  readonly #db: SqliteDatabase;
  readonly #stmts;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#stmts = {
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
      unrecordedBlobs: db
        .prepare(
          `SELECT DISTINCT sha FROM (
             SELECT sha256 AS sha FROM files WHERE snapshot_id = @id
             UNION ALL SELECT metadata_sha256 FROM files WHERE snapshot_id = @id AND metadata_sha256 IS NOT NULL
           ) WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = sha)`,
        )
        .pluck(),
    };
  }

  async currentSnapshotId(mirror: string, idx: string): Promise<number | undefined> {
    return this.#stmts.currentSnapshotId.get(mirror, idx) as number | undefined;
  }

  async currentSnapshots(mirror: string): Promise<CurrentSnapshot[]> {
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
  async allCurrentSnapshots(): Promise<Map<string, CurrentSnapshot[]>> {
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
  async changeStamp(): Promise<string> {
    return `${this.#stmts.dataVersion.get() as number}:${this.#stmts.totalChanges.get() as number}`;
  }

  async projects(snapshotId: number): Promise<ProjectRecord[]> {
    return (this.#stmts.projects.all(snapshotId) as ProjectRowSql[]).map(toProjectRecord);
  }

  async project(snapshotId: number, name: string): Promise<ProjectRecord | undefined> {
    const row = this.#stmts.project.get(snapshotId, name) as ProjectRowSql | undefined;
    return row && toProjectRecord(row);
  }

  async filesOfProject(snapshotId: number, project: string): Promise<FileRecord[]> {
    return (this.#stmts.filesOfProject.all(snapshotId, project) as FileRowSql[]).map(toFileRecord);
  }

  async filesOfSnapshot(snapshotId: number): Promise<FileRecord[]> {
    return (this.#stmts.filesOfSnapshot.all(snapshotId) as FileRowSql[]).map(toFileRecord);
  }

  /** A file (or the file a `.metadata` path belongs to) in any current snapshot of the mirror. */
  async fileByPath(mirror: string, path: string): Promise<FileRecord | undefined> {
    const row = this.#stmts.fileByPath.get(path, mirror) as FileRowSql | undefined;
    return row && toFileRecord(row);
  }

  /**
   * Publishes new snapshots of the given indexes in one transaction: either every index of the
   * run becomes current, or none does (nor when a listed blob has no record: SnapshotBlobsGoneError). Older generations beyond `keep` are dropped (their blobs
   * become garbage for `gc` once no snapshot lists them).
   */
  async publish(
    mirror: string,
    runId: number | null,
    indexes: IndexPublication[],
    now: number,
    keep = 2,
  ): Promise<number[]> {
    const s = this.#stmts;
    return this.#db.transaction(() => {
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
        // gc may have removed a blob this sync meant to list without fetching it (one it claimed
        // longer than gc_grace ago): fail with nothing published rather than list missing bytes.
        const gone = s.unrecordedBlobs.all({ id: snapshotId }) as string[];
        if (gone.length > 0) throw new SnapshotBlobsGoneError(mirror, gone);
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
