// Blob records in SQLite: size, origin and access times, for gc and cache eviction.
import { isDiskFull } from "../../errors.js";
import type { BlobRepository, BlobRow } from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

export class SqliteBlobRepository implements BlobRepository {
  readonly #stmts;

  readonly #deleteTx: (sha256: string) => void;
  readonly #claimTx: (sha256s: readonly string[], now: number) => Set<string>;
  readonly #deleteUnreferencedTx: (before: number) => BlobRowSql[];

  constructor(db: SqliteDatabase) {
    this.#stmts = {
      upsertBlob: db.prepare(
        `INSERT INTO blobs (sha256, size, created_at, last_access_at, origin) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sha256) DO UPDATE SET last_access_at = excluded.last_access_at`,
      ),
      getBlob: db.prepare(
        "SELECT sha256, size, created_at, last_access_at, origin FROM blobs WHERE sha256 = ?",
      ),
      touchBlob: db.prepare("UPDATE blobs SET last_access_at = ? WHERE sha256 = ?"),
      deleteBlob: db.prepare("DELETE FROM blobs WHERE sha256 = ?"),
      // Mark and sweep in one statement: the live set grows from the roots along the references
      // of manifests (UNION, not UNION ALL, so a blob is visited once); what it never reaches is
      // garbage. Manifest digests are "sha256:<hex>", blob names the hex.
      unreferencedBlobs: db.prepare(
        `WITH RECURSIVE live(sha256) AS (
           SELECT sha256 FROM files
           UNION SELECT metadata_sha256 FROM files WHERE metadata_sha256 IS NOT NULL
           UNION SELECT sha256 FROM blobs WHERE last_access_at >= @before OR origin = 'fetch'
           UNION SELECT substr(r.child, 8) FROM manifest_references r
             JOIN live l ON r.parent = 'sha256:' || l.sha256
             WHERE r.child LIKE 'sha256:%'
         )
         SELECT sha256, size, created_at, last_access_at, origin FROM blobs b
         WHERE b.last_access_at < @before AND b.origin <> 'fetch'
           AND NOT EXISTS (SELECT 1 FROM live l WHERE l.sha256 = b.sha256)
         ORDER BY b.last_access_at`,
      ),
      deleteManifestRows: db.prepare("DELETE FROM manifests WHERE digest = 'sha256:' || ?"),
      deleteManifestReferences: db.prepare("DELETE FROM manifest_references WHERE parent = 'sha256:' || ?"),
      digests: db.prepare("SELECT sha256 FROM blobs").pluck(),
    };
    const stmts = this.#stmts;
    const forget = (sha256: string) => {
      stmts.deleteBlob.run(sha256);
      stmts.deleteManifestRows.run(sha256);
      stmts.deleteManifestReferences.run(sha256);
    };
    this.#deleteTx = db.transaction(forget);
    this.#claimTx = db.transaction((sha256s: readonly string[], now: number) => {
      const claimed = new Set<string>();
      for (const sha256 of sha256s) if (stmts.touchBlob.run(now, sha256).changes > 0) claimed.add(sha256);
      return claimed;
    });
    // IMMEDIATE: the write lock is taken before the sweep reads, so no claim or publish of another
    // connection lands between what the sweep saw and what it deletes.
    this.#deleteUnreferencedTx = db.transaction((before: number) => {
      const garbage = stmts.unreferencedBlobs.all({ before }) as BlobRowSql[];
      for (const row of garbage) forget(row.sha256);
      return garbage;
    }).immediate as (before: number) => BlobRowSql[];
  }

  async record(sha256: string, size: number, origin: string, now: number): Promise<void> {
    this.#stmts.upsertBlob.run(sha256, size, now, now, origin);
  }

  async get(sha256: string): Promise<BlobRow | undefined> {
    const row = this.#stmts.getBlob.get(sha256) as BlobRowSql | undefined;
    return row && toBlobRow(row);
  }

  /** The digests of every blob the store has recorded. */
  async digests(): Promise<Set<string>> {
    return new Set(this.#stmts.digests.all() as string[]);
  }

  /** Best effort: an access time only orders eviction, so a full disk must not fail a read. */
  async touch(sha256: string, now: number): Promise<void> {
    try {
      this.#stmts.touchBlob.run(now, sha256);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  async claim(sha256s: readonly string[], now: number): Promise<Set<string>> {
    return sha256s.length === 0 ? new Set() : this.#claimTx(sha256s, now);
  }

  async delete(sha256: string): Promise<void> {
    this.#deleteTx(sha256);
  }

  async deleteUnreferenced(before: number): Promise<BlobRow[]> {
    return this.#deleteUnreferencedTx(before).map(toBlobRow);
  }

  /** What gc may remove (see BlobRepository.unreferenced): a mark from the live roots, then a sweep. */
  async unreferenced(before: number): Promise<BlobRow[]> {
    return (this.#stmts.unreferencedBlobs.all({ before }) as BlobRowSql[]).map(toBlobRow);
  }
}

interface BlobRowSql {
  sha256: string;
  size: number;
  created_at: number;
  last_access_at: number;
  origin: string;
}

function toBlobRow(row: BlobRowSql): BlobRow {
  return {
    sha256: row.sha256,
    size: row.size,
    createdAt: row.created_at,
    lastAccessAt: row.last_access_at,
    origin: row.origin,
  };
}
