// Manifests, tags and manifest references in SQLite (migration 7), statements prepared once.
import { isDiskFull } from "../../errors.js";
import type { ManifestReference, ManifestRepository, ManifestRow, TagRow } from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

interface TagRecord {
  mirror: string;
  repository: string;
  tag: string;
  digest: string;
  media_type: string;
  checked_at: number;
}

interface ManifestRecord {
  mirror: string;
  repository: string;
  digest: string;
  media_type: string;
  size: number;
  fetched_at: number;
  last_used_at: number;
}

interface ReferenceRecord {
  child: string;
  media_type: string;
  size: number;
}

const tagRow = (r: TagRecord): TagRow => ({
  mirror: r.mirror,
  repository: r.repository,
  tag: r.tag,
  digest: r.digest,
  mediaType: r.media_type,
  checkedAt: r.checked_at,
});

const manifestRow = (r: ManifestRecord): ManifestRow => ({
  mirror: r.mirror,
  repository: r.repository,
  digest: r.digest,
  mediaType: r.media_type,
  size: r.size,
  fetchedAt: r.fetched_at,
  lastUsedAt: r.last_used_at,
});

const referenceRow = (r: ReferenceRecord): ManifestReference => ({
  digest: r.child,
  mediaType: r.media_type,
  size: r.size,
});

const TAG_COLUMNS = "mirror, repository, tag, digest, media_type, checked_at";
const MANIFEST_COLUMNS = "mirror, repository, digest, media_type, size, fetched_at, last_used_at";

export class SqliteManifestRepository implements ManifestRepository {
  readonly #db: SqliteDatabase;
  readonly #stmts;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#stmts = {
      cachedBeyondSnapshots: db.prepare(
        `SELECT COUNT(*) AS count, COALESCE(SUM(b.size), 0) AS bytes FROM blobs b
         WHERE 'sha256:' || b.sha256 IN (
             SELECT digest FROM manifests WHERE mirror = @mirror
             UNION SELECT r.child FROM manifest_references r
               JOIN manifests m ON r.parent = m.digest WHERE m.mirror = @mirror)
           AND NOT EXISTS (SELECT 1 FROM files f JOIN current_snapshots c ON c.snapshot_id = f.snapshot_id
                           WHERE c.mirror = @mirror AND f.sha256 = b.sha256)`,
      ),
      tag: db.prepare(`SELECT ${TAG_COLUMNS} FROM tags WHERE mirror = ? AND repository = ? AND tag = ?`),
      putTag: db.prepare(
        `INSERT INTO tags (${TAG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (mirror, repository, tag) DO UPDATE SET digest = excluded.digest,
           media_type = excluded.media_type, checked_at = excluded.checked_at`,
      ),
      touchTag: db.prepare("UPDATE tags SET checked_at = ? WHERE mirror = ? AND repository = ? AND tag = ?"),
      tagsOfMirror: db.prepare(`SELECT ${TAG_COLUMNS} FROM tags WHERE mirror = ? ORDER BY repository, tag`),
      tagsOfRepository: db.prepare(
        `SELECT ${TAG_COLUMNS} FROM tags WHERE mirror = ? AND repository = ? ORDER BY tag`,
      ),
      deleteTag: db.prepare("DELETE FROM tags WHERE mirror = ? AND repository = ? AND tag = ?"),
      manifest: db.prepare(
        `SELECT ${MANIFEST_COLUMNS} FROM manifests WHERE mirror = ? AND repository = ? AND digest = ?`,
      ),
      manifestAnywhere: db.prepare(`SELECT ${MANIFEST_COLUMNS} FROM manifests WHERE digest = ? LIMIT 1`),
      putManifest: db.prepare(
        `INSERT INTO manifests (${MANIFEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (mirror, repository, digest) DO UPDATE SET last_used_at = excluded.last_used_at`,
      ),
      putReference: db.prepare(
        `INSERT INTO manifest_references (parent, child, media_type, size) VALUES (?, ?, ?, ?)
         ON CONFLICT (parent, child) DO NOTHING`,
      ),
      touchManifest: db.prepare(
        "UPDATE manifests SET last_used_at = ? WHERE mirror = ? AND repository = ? AND digest = ?",
      ),
      manifestsOf: db.prepare(
        `SELECT ${MANIFEST_COLUMNS} FROM manifests WHERE mirror = ? ORDER BY repository, digest`,
      ),
      references: db.prepare(
        "SELECT child, media_type, size FROM manifest_references WHERE parent = ? ORDER BY rowid",
      ),
      referenced: db.prepare(
        "SELECT child, media_type, size FROM manifest_references WHERE child = ? LIMIT 1",
      ),
      liveManifests: db.prepare("SELECT DISTINCT digest FROM manifests").pluck(),
      liveChildren: db
        .prepare(
          `SELECT DISTINCT r.child FROM manifest_references r
           WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.digest = r.parent)`,
        )
        .pluck(),
      deleteManifest: db.prepare("DELETE FROM manifests WHERE mirror = ? AND repository = ? AND digest = ?"),
      deleteOrphanReferences: db.prepare(
        `DELETE FROM manifest_references WHERE parent = ?
           AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = ?)`,
      ),
    };
  }

  async tag(mirror: string, repository: string, tag: string): Promise<TagRow | undefined> {
    const row = this.#stmts.tag.get(mirror, repository, tag) as TagRecord | undefined;
    return row && tagRow(row);
  }

  async putTag(row: TagRow): Promise<void> {
    this.#stmts.putTag.run(row.mirror, row.repository, row.tag, row.digest, row.mediaType, row.checkedAt);
  }

  async touchTag(mirror: string, repository: string, tag: string, checkedAt: number): Promise<void> {
    try {
      this.#stmts.touchTag.run(checkedAt, mirror, repository, tag);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  async tagsOf(mirror: string, repository?: string): Promise<TagRow[]> {
    const rows = (
      repository === undefined
        ? this.#stmts.tagsOfMirror.all(mirror)
        : this.#stmts.tagsOfRepository.all(mirror, repository)
    ) as TagRecord[];
    return rows.map(tagRow);
  }

  async manifest(mirror: string, repository: string, digest: string): Promise<ManifestRow | undefined> {
    const row = this.#stmts.manifest.get(mirror, repository, digest) as ManifestRecord | undefined;
    return row && manifestRow(row);
  }

  async manifestAnywhere(digest: string): Promise<ManifestRow | undefined> {
    const row = this.#stmts.manifestAnywhere.get(digest) as ManifestRecord | undefined;
    return row && manifestRow(row);
  }

  async putManifest(row: ManifestRow, references: readonly ManifestReference[]): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.putManifest.run(
        row.mirror,
        row.repository,
        row.digest,
        row.mediaType,
        row.size,
        row.fetchedAt,
        row.lastUsedAt,
      );
      for (const ref of references)
        this.#stmts.putReference.run(row.digest, ref.digest, ref.mediaType, ref.size);
    })();
  }

  async touchManifest(mirror: string, repository: string, digest: string, now: number): Promise<void> {
    try {
      this.#stmts.touchManifest.run(now, mirror, repository, digest);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  async manifestsOf(mirror: string): Promise<ManifestRow[]> {
    return (this.#stmts.manifestsOf.all(mirror) as ManifestRecord[]).map(manifestRow);
  }

  async references(parent: string): Promise<ManifestReference[]> {
    return (this.#stmts.references.all(parent) as ReferenceRecord[]).map(referenceRow);
  }

  async referenced(child: string): Promise<ManifestReference | undefined> {
    const row = this.#stmts.referenced.get(child) as ReferenceRecord | undefined;
    return row && referenceRow(row);
  }

  async liveDigests(): Promise<Set<string>> {
    return new Set([
      ...(this.#stmts.liveManifests.all() as string[]),
      ...(this.#stmts.liveChildren.all() as string[]),
    ]);
  }

  async cachedBeyondSnapshots(mirror: string): Promise<{ count: number; bytes: number }> {
    return this.#stmts.cachedBeyondSnapshots.get({ mirror }) as { count: number; bytes: number };
  }

  async deleteManifest(mirror: string, repository: string, digest: string): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.deleteManifest.run(mirror, repository, digest);
      this.#stmts.deleteOrphanReferences.run(digest, digest);
    })();
  }

  async deleteTag(mirror: string, repository: string, tag: string): Promise<void> {
    this.#stmts.deleteTag.run(mirror, repository, tag);
  }
}
