// Numbered schema migrations for state.sqlite. Append only: a released migration never changes.
// PRAGMA user_version records how many have been applied.

export const MIGRATIONS: readonly string[] = [
  // 1: mirrors, snapshots (generations), files, blobs, runs, locks
  `
  CREATE TABLE mirrors (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'none',
    last_success_at INTEGER,
    last_attempt_at INTEGER,
    last_ended_at INTEGER,
    next_run_at INTEGER,
    last_error TEXT,
    paused INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    mirror TEXT NOT NULL,
    idx TEXT NOT NULL,
    run_id INTEGER,
    created_at INTEGER NOT NULL,
    file_count INTEGER NOT NULL DEFAULT 0,
    total_size INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX snapshots_mirror ON snapshots(mirror, idx, id);

  -- The published generation of each index. Changing a row is the atomic publish.
  CREATE TABLE current_snapshots (
    mirror TEXT NOT NULL,
    idx TEXT NOT NULL,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    published_at INTEGER NOT NULL,
    PRIMARY KEY (mirror, idx)
  );

  -- Projects of a snapshot, with what upstream said of their page (for watching).
  CREATE TABLE projects (
    snapshot_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    upstream_serial INTEGER,
    upstream_timestamp INTEGER,
    upstream_etag TEXT,
    PRIMARY KEY (snapshot_id, name)
  ) WITHOUT ROWID;

  CREATE TABLE files (
    snapshot_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    project TEXT NOT NULL,
    filename TEXT NOT NULL,
    upstream_url TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    hash_source TEXT NOT NULL,
    requires_python TEXT,
    yanked TEXT,
    upload_time TEXT,
    metadata_sha256 TEXT,
    metadata_size INTEGER,
    metadata_source TEXT,
    PRIMARY KEY (snapshot_id, path)
  ) WITHOUT ROWID;
  CREATE INDEX files_by_project ON files(snapshot_id, project);
  CREATE INDEX files_by_blob ON files(sha256);
  CREATE INDEX files_by_metadata_blob ON files(metadata_sha256);

  CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_access_at INTEGER NOT NULL,
    origin TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    mirror TEXT NOT NULL,
    kind TEXT NOT NULL,
    project TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    outcome TEXT NOT NULL,
    files_added INTEGER NOT NULL DEFAULT 0,
    files_removed INTEGER NOT NULL DEFAULT 0,
    bytes_added INTEGER NOT NULL DEFAULT 0,
    bytes_removed INTEGER NOT NULL DEFAULT 0,
    files_total INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER NOT NULL DEFAULT 0,
    upstream_requests INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    log_path TEXT
  );
  CREATE INDEX runs_by_mirror ON runs(mirror, id);

  CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    run_id INTEGER
  );
  `,
  // 2: pull-through cache: upstream pages fetched on demand, and the files they list
  `
  CREATE TABLE proxy_pages (
    mirror TEXT NOT NULL,
    idx TEXT NOT NULL,
    project TEXT NOT NULL, -- '' for the project list
    fetched_at INTEGER NOT NULL,
    status INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    body TEXT,
    PRIMARY KEY (mirror, idx, project)
  ) WITHOUT ROWID;

  CREATE TABLE proxy_files (
    mirror TEXT NOT NULL,
    path TEXT NOT NULL,
    project TEXT NOT NULL,
    filename TEXT NOT NULL,
    upstream_url TEXT NOT NULL,
    sha256 TEXT,
    hash_source TEXT NOT NULL,
    size INTEGER,
    metadata_sha256 TEXT,
    metadata_offered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mirror, path)
  ) WITHOUT ROWID;
  CREATE INDEX blobs_by_origin_access ON blobs(origin, last_access_at);
  `,
  // 3: scheduling (issue 3): the schedule slot a mirror last ran for, so neither a restart nor a
  // clock jump runs one slot twice; when it was paused; runs by outcome for status and metrics.
  `
  ALTER TABLE mirrors ADD COLUMN last_scheduled_at INTEGER;
  ALTER TABLE mirrors ADD COLUMN paused_at INTEGER;
  CREATE INDEX runs_by_mirror_outcome ON runs(mirror, outcome, id);
  `,
  // 4: freshness (issue 5): upstream changes the watcher saw, and when the mirror published them
  `
  CREATE TABLE upstream_changes (
    id INTEGER PRIMARY KEY,
    mirror TEXT NOT NULL,
    idx TEXT NOT NULL,
    project TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    published_at INTEGER,
    run_id INTEGER
  );
  CREATE INDEX upstream_changes_pending ON upstream_changes(mirror, published_at, first_seen_at);
  CREATE INDEX upstream_changes_history ON upstream_changes(mirror, id);
  `,
  // 5: hardening: a lock records its holder's start time and boot ("<boot>-<ticks>"), since a pid
  // alone names another process after a restart (PID 1 in every container run); the proxy page
  // cache is trimmed oldest first, negative entries on their own.
  `
  ALTER TABLE locks ADD COLUMN holder_start TEXT;
  CREATE INDEX proxy_pages_by_age ON proxy_pages(status, fetched_at);
  `,
  // 6: whether upstream could be checked (issue: lag tells the truth): the last time a sync or a
  // watch cycle read its pages, and since when it has been failing to.
  `
  CREATE TABLE upstream_checks (
    mirror TEXT PRIMARY KEY,
    last_ok_at INTEGER,
    failing_since INTEGER,
    last_failed_at INTEGER,
    last_error TEXT
  ) WITHOUT ROWID;
  `,
  // 7: content-addressed manifests (OCI issue): a tag names a digest (until rechecked); a manifest
  // is a blob in the blob store (raw upstream bytes, keyed by their sha256) with its media type;
  // its references (config, layers, an index's children) are kept so garbage collection of any
  // kind can count what still points at a blob.
  `
  CREATE TABLE tags (
    mirror TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (mirror, repository, tag)
  ) WITHOUT ROWID;
  CREATE INDEX tags_by_digest ON tags(digest);
  CREATE TABLE manifests (
    mirror TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    PRIMARY KEY (mirror, repository, digest)
  ) WITHOUT ROWID;
  CREATE INDEX manifests_by_digest ON manifests(digest);
  CREATE TABLE manifest_references (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (parent, child)
  );
  CREATE INDEX manifest_references_by_child ON manifest_references(child);
  `,
  // 8: a digest other than sha256 that an index gave for a file listed without one ("sha512=<hex>"),
  // checked when the file is fetched on demand (src/sync/other-hash.ts).
  `
  ALTER TABLE proxy_files ADD COLUMN other_hash TEXT;
  `,
];
