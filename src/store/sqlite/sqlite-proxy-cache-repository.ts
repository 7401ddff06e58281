// SQLite records of the pull-through cache: upstream pages fetched on demand (with their
// validators, for revalidation and stale serving) and the files they list (so a file request
// maps back to its upstream URL and expected digest). A page's body is the ecosystem's, opaque
// here. The page worker runs this class on its own connection (see src/pypi/page-worker.ts).
import { isDiskFull } from "../../errors.js";
import type { ProxyCacheRepository, ProxyFileRow, ProxyPageRow } from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

interface ProxyFileSql {
  mirror: string;
  path: string;
  project: string;
  filename: string;
  upstream_url: string;
  sha256: string | null;
  hash_source: string;
  size: number | null;
  metadata_sha256: string | null;
  metadata_offered: number;
  other_hash: string | null;
}

/**
 * How many page rows the cache keeps. Every name a client asks for leaves a row (a 404 from
 * upstream is cached too, for `negative_ttl`), so without a bound random names grow the database
 * forever. Negative entries are only worth their TTL (a minute by default): a thousand is plenty.
 * Real pages are kept up to a bound far above what a site's clients use; the oldest fetched go
 * first and are simply fetched again when asked for.
 */
export const PROXY_CACHE_LIMITS = { negativePages: 1_000, pages: 200_000 } as const;

export const TRIM_EVERY = 64;

export class SqliteProxyCacheRepository implements ProxyCacheRepository {
  readonly #db: SqliteDatabase;
  readonly #stmts;
  readonly #limits: { negativePages: number; pages: number };
  #positivePuts = 0;
  #negativePuts = 0;

  constructor(db: SqliteDatabase, limits: { negativePages: number; pages: number } = PROXY_CACHE_LIMITS) {
    this.#db = db;
    this.#limits = limits;
    this.#stmts = {
      getPage: db.prepare(
        `SELECT mirror, idx, project, fetched_at AS fetchedAt, status, etag, last_modified AS lastModified, body
         FROM proxy_pages WHERE mirror = ? AND idx = ? AND project = ?`,
      ),
      getPageMeta: db.prepare(
        `SELECT mirror, idx, project, fetched_at AS fetchedAt, status, etag, last_modified AS lastModified, NULL AS body
         FROM proxy_pages WHERE mirror = ? AND idx = ? AND project = ?`,
      ),
      putPage: db.prepare(
        `INSERT OR REPLACE INTO proxy_pages (mirror, idx, project, fetched_at, status, etag, last_modified, body)
         VALUES (@mirror, @idx, @project, @fetchedAt, @status, @etag, @lastModified, @body)`,
      ),
      // Keeps the newest `?` rows of one kind; proxy_pages_by_age makes this an index walk.
      trimNegative: db.prepare(
        `DELETE FROM proxy_pages WHERE (mirror, idx, project) IN (
           SELECT mirror, idx, project FROM proxy_pages WHERE status <> 200
           ORDER BY fetched_at DESC LIMIT -1 OFFSET ?)`,
      ),
      trimPositive: db.prepare(
        `DELETE FROM proxy_pages WHERE (mirror, idx, project) IN (
           SELECT mirror, idx, project FROM proxy_pages WHERE status = 200
           ORDER BY fetched_at DESC LIMIT -1 OFFSET ?)`,
      ),
      touchPage: db.prepare(
        "UPDATE proxy_pages SET fetched_at = ? WHERE mirror = ? AND idx = ? AND project = ?",
      ),
      getFile: db.prepare("SELECT * FROM proxy_files WHERE mirror = ? AND path = ?"),
      putFile: db.prepare(
        `INSERT INTO proxy_files (mirror, path, project, filename, upstream_url, sha256, hash_source, size, metadata_sha256, metadata_offered, other_hash)
         VALUES (@mirror, @path, @project, @filename, @upstreamUrl, @sha256, @hashSource, @size, @metadataSha256, @metadataOffered, @otherHash)
         ON CONFLICT (mirror, path) DO UPDATE SET
           upstream_url = excluded.upstream_url,
           -- a digest computed from downloaded bytes stays until upstream publishes one
           sha256 = COALESCE(excluded.sha256, proxy_files.sha256),
           hash_source = CASE WHEN excluded.sha256 IS NULL THEN proxy_files.hash_source ELSE excluded.hash_source END,
           size = COALESCE(excluded.size, proxy_files.size),
           metadata_sha256 = excluded.metadata_sha256,
           metadata_offered = excluded.metadata_offered,
           other_hash = excluded.other_hash`,
      ),
      fetchedBytes: db.prepare("SELECT COALESCE(SUM(size), 0) FROM blobs WHERE origin = 'fetch'").pluck(),
      leastRecentlyUsed: db.prepare(
        `SELECT sha256, size FROM blobs b WHERE origin = 'fetch'
           AND NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = b.sha256)
           AND NOT EXISTS (SELECT 1 FROM files f WHERE f.metadata_sha256 = b.sha256)
           AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN blobs p ON p.sha256 = substr(r.parent, 8)
                           WHERE r.child = 'sha256:' || b.sha256)
         ORDER BY last_access_at LIMIT ?`,
      ),
      setDigest: db.prepare(
        "UPDATE proxy_files SET sha256 = ?, size = ?, hash_source = ? WHERE mirror = ? AND path = ? AND (sha256 IS NULL OR sha256 = ?)",
      ),
    };
  }

  async page(mirror: string, idx: string, project: string): Promise<ProxyPageRow | undefined> {
    return this.#stmts.getPage.get(mirror, idx, project) as ProxyPageRow | undefined;
  }

  /** A page's validators and status, without its (possibly large) body. */
  async pageMeta(mirror: string, idx: string, project: string): Promise<ProxyPageRow | undefined> {
    return this.#stmts.getPageMeta.get(mirror, idx, project) as ProxyPageRow | undefined;
  }

  /** Stores files a page lists (one batch of a big page), in one transaction. */
  async putFiles(files: readonly ProxyFileRow[]): Promise<void> {
    this.storeFiles(files);
  }

  /** Stores a fetched page and the files it lists, in one transaction. */
  async putPage(row: ProxyPageRow, files: readonly ProxyFileRow[]): Promise<void> {
    this.storePage(row, files);
  }

  /**
   * putFiles, synchronously: for the page worker, which stores a big page's rows on its own
   * connection off the main thread (the SQLite backend's fast path; another backend gets the
   * rows back on the main thread and stores them through putFiles).
   */
  storeFiles(files: readonly ProxyFileRow[]): void {
    this.#db.transaction(() => {
      for (const file of files) {
        this.#stmts.putFile.run({ ...file, metadataOffered: file.metadataOffered ? 1 : 0 });
      }
    })();
  }

  /** putPage, synchronously: for the page worker (see storeFiles). */
  storePage(row: ProxyPageRow, files: readonly ProxyFileRow[]): void {
    this.#db.transaction(() => {
      this.#stmts.putPage.run(row);
      for (const file of files) {
        this.#stmts.putFile.run({ ...file, metadataOffered: file.metadataOffered ? 1 : 0 });
      }
      // Walking past the rows kept costs about as many index steps as the limit, so the trims run
      // every so often: the table overshoots a limit by less than TRIM_EVERY rows.
      if (row.status === 200) {
        if (++this.#positivePuts % TRIM_EVERY === 0) this.#stmts.trimPositive.run(this.#limits.pages);
      } else if (++this.#negativePuts % TRIM_EVERY === 0)
        this.#stmts.trimNegative.run(this.#limits.negativePages);
    })();
  }

  /** A 304 from upstream: the cached page is fresh again (best effort: a full disk must not fail it). */
  async touchPage(mirror: string, idx: string, project: string, now: number): Promise<void> {
    try {
      this.#stmts.touchPage.run(now, mirror, idx, project);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  async file(mirror: string, path: string): Promise<ProxyFileRow | undefined> {
    const row = this.#stmts.getFile.get(mirror, path) as ProxyFileSql | undefined;
    return (
      row && {
        mirror: row.mirror,
        path: row.path,
        project: row.project,
        filename: row.filename,
        upstreamUrl: row.upstream_url,
        sha256: row.sha256,
        hashSource: row.hash_source === "computed" ? "computed" : "index",
        size: row.size,
        metadataSha256: row.metadata_sha256,
        metadataOffered: row.metadata_offered === 1,
        otherHash: row.other_hash,
      }
    );
  }

  /** Bytes of blobs fetched on demand (the pull-through cache). */
  async fetchedBytes(): Promise<number> {
    return this.#stmts.fetchedBytes.get() as number;
  }

  /** Fetched blobs no snapshot lists and no stored manifest references, least recently used first. */
  async evictionCandidates(limit: number): Promise<{ sha256: string; size: number }[]> {
    return this.#stmts.leastRecentlyUsed.all(limit) as { sha256: string; size: number }[];
  }

  /** Records the digest of downloaded bytes (for files upstream lists without one). */
  async setDigest(
    mirror: string,
    path: string,
    sha256: string,
    size: number,
    hashSource: "index" | "computed",
  ): Promise<void> {
    this.#stmts.setDigest.run(sha256, size, hashSource, mirror, path, sha256);
  }
}
