// The state a mirror keeps besides blobs, as repositories: mirrors, snapshots (and their projects
// and files), blobs, runs, sync locks, lag and the pull-through cache. Each is an interface a
// second backend (PostgreSQL) can implement; src/store/sqlite/ holds the SQLite ones, and the
// contract suite in state-repositories.contract.ts runs against every implementation.
//
// Every method returns a Promise: a networked backend cannot answer synchronously, and the
// contract suite must run unchanged against it. SQLite answers at once (its methods are `async`
// over statements prepared once). What must be atomic (a publish, a page with its files, a lock's
// check-then-take, a manifest with its references) is ONE method, so no backend spreads it across
// awaits where another request could interleave; callers must not rebuild such a step from two
// calls.

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

export interface LockHolder {
  pid: number;
  hostname: string;
  acquiredAt: number;
  /** "<boot>-<start ticks>" of the holder (see process-alive.ts); null in rows from before it was kept. */
  start: string | null;
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

/** A file record from what every file has; the hash from the index, no other facts known. */
export function fileRecord(
  fields: Pick<FileRecord, "path" | "project" | "filename" | "upstreamUrl" | "sha256" | "size"> &
    Partial<FileRecord>,
): FileRecord {
  return {
    hashSource: "index",
    requiresPython: null,
    yanked: null,
    uploadTime: null,
    metadataSha256: null,
    metadataSize: null,
    metadataSource: null,
    ...fields,
  };
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

/** What the last looks at upstream found. */
export interface UpstreamCheck {
  /** The last time upstream's pages were read. */
  lastOkAt: number | null;
  /** The first failed look since then; null while upstream answers. */
  failingSince: number | null;
  lastFailedAt: number | null;
  /** The latest failure, root cause first. */
  lastError: string | null;
}

export interface LagSample {
  id: number;
  mirror: string;
  idx: string;
  project: string;
  firstSeenAt: number;
  publishedAt: number | null;
  runId: number | null;
}

export interface ProxyPageRow {
  mirror: string;
  idx: string;
  /** Normalized project name; "" for the project list. */
  project: string;
  fetchedAt: number;
  /** 200, or 404 for a negative entry. */
  status: number;
  etag: string | null;
  lastModified: string | null;
  /** The ecosystem's page body, opaque here (PyPI: gzipped JSON; plain JSON text in rows from before). */
  body: Uint8Array | string | null;
}

export interface ProxyFileRow {
  mirror: string;
  path: string;
  project: string;
  filename: string;
  upstreamUrl: string;
  sha256: string | null;
  hashSource: "index" | "computed";
  size: number | null;
  metadataSha256: string | null;
  metadataOffered: boolean;
  /** Without a sha256: another digest the index gave, as `sha512=<hex>` (see src/sync/other-hash.ts). */
  otherHash: string | null;
}

export interface MirrorRepository {
  ensure(name: string): Promise<void>;
  /** The mirror's row, created when missing. */
  get(name: string): Promise<MirrorRow>;
  /** Every mirror row, without creating any (a read-only query, safe for status pages). */
  list(): Promise<MirrorRow[]>;
  /** Sets the fields given (an undefined field is left alone; null clears it). */
  update(name: string, patch: Partial<Omit<MirrorRow, "name">>): Promise<void>;
}

export interface SnapshotRepository {
  currentSnapshotId(mirror: string, idx: string): Promise<number | undefined>;
  currentSnapshots(mirror: string): Promise<CurrentSnapshot[]>;
  /** Every mirror's current snapshots, in one query. */
  allCurrentSnapshots(): Promise<Map<string, CurrentSnapshot[]>>;
  projects(snapshotId: number): Promise<ProjectRecord[]>;
  project(snapshotId: number, name: string): Promise<ProjectRecord | undefined>;
  filesOfProject(snapshotId: number, project: string): Promise<FileRecord[]>;
  filesOfSnapshot(snapshotId: number): Promise<FileRecord[]>;
  /** A file (or the file a `.metadata` path belongs to) in any current snapshot of the mirror. */
  fileByPath(mirror: string, path: string): Promise<FileRecord | undefined>;
  /** Changes whenever anything was written to the state, by this process or another. */
  changeStamp(): Promise<string>;
  /**
   * Publishes new snapshots of the given indexes atomically: either every index of the run
   * becomes current, or none does. Every blob listed (files and core metadata) must have a record
   * (BlobRepository.record), else nothing is published: SnapshotBlobsGoneError. Generations
   * beyond `keep` are dropped. Returns the new ids.
   */
  publish(
    mirror: string,
    runId: number | null,
    indexes: IndexPublication[],
    now: number,
    keep?: number,
  ): Promise<number[]>;
}

export interface BlobRepository {
  /** Records a stored blob, or (when known) its latest use. */
  record(sha256: string, size: number, origin: string, now: number): Promise<void>;
  get(sha256: string): Promise<BlobRow | undefined>;
  /** The digests of every blob recorded. */
  digests(): Promise<Set<string>>;
  /** Best effort: an access time only orders eviction, so a full disk must not fail a read. */
  touch(sha256: string, now: number): Promise<void>;
  /**
   * Marks the recorded blobs among `sha256s` as used at `now`, in one step, and returns them. A
   * sync claims what it means to list without fetching it again: a claimed blob is not garbage
   * for gc_grace, and a blob gc has already forgotten is not returned (it is fetched again). Bytes
   * in the store without a record are not a claim: gc may be about to remove them.
   */
  claim(sha256s: readonly string[], now: number): Promise<Set<string>>;
  /**
   * Forgets the blob; when it was a manifest, also the manifest's rows and references (the bytes
   * are gone, so what it referenced may become garbage, and a pull fetches it again).
   */
  delete(sha256: string): Promise<void>;
  /**
   * What gc may remove: blobs last used before `before` that nothing live reaches. Live are the
   * blobs a snapshot lists (as a file or as core metadata), blobs fetched on demand (max_cache_size
   * governs those), blobs used since `before`, and whatever a live blob references as a manifest
   * (ManifestRepository's references: an index its manifests, a manifest its config and layers),
   * transitively. Blobs fetched on demand are never in the answer.
   */
  unreferenced(before: number): Promise<BlobRow[]>;
  /**
   * Finds what `unreferenced(before)` finds and forgets it (as `delete` does), in one step, so a
   * blob claimed or listed meanwhile is kept. The caller removes the bytes afterwards: a blob
   * without a record is absent for every sync and fetch, which then fetch it again.
   */
  deleteUnreferenced(before: number): Promise<BlobRow[]>;
}

export interface RunRepository {
  start(
    mirror: string,
    kind: string,
    project: string | null,
    now: number,
    logPath: string | null,
  ): Promise<number>;
  setLogPath(id: number, logPath: string): Promise<void>;
  finish(id: number, result: RunResult, now: number): Promise<void>;
  get(id: number): Promise<RunRow | undefined>;
  /** Newest first, ids below `beforeId`. */
  list(mirror: string, limit: number, beforeId?: number): Promise<RunRow[]>;
  /** The latest full-mirror run (not a one-project run) with this outcome. */
  lastFull(mirror: string, outcome: RunRow["outcome"]): Promise<RunRow | undefined>;
  outcomeCounts(): Promise<{ mirror: string; outcome: RunRow["outcome"]; count: number }[]>;
  count(mirror: string): Promise<number>;
  /** Marks runs left "running" by a killed process as failed. */
  abandon(mirror: string, now: number, reason: string): Promise<void>;
  /** Runs still marked running (some may belong to a process that died), oldest first. */
  running(): Promise<RunRow[]>;
}

/**
 * Named locks across processes (and, with a shared backend, nodes): what keeps two syncs of one
 * mirror apart. A PostgreSQL implementation can hold an advisory lock per name.
 */
export interface SyncLocks {
  /**
   * Takes the lock for this process. A lock whose holder is gone is taken over (its pid is
   * returned). Throws SyncLockedError while a live holder has it, this process included.
   */
  acquire(name: string, now: number): Promise<{ tookOverFrom: number | null }>;
  /** Releases the lock if this process holds it. */
  release(name: string): Promise<void>;
  /** Who holds the lock, if anyone (alive or not). */
  holder(name: string): Promise<LockHolder | undefined>;
  /** Whether a holder may still run (one on another host is taken to be alive). */
  isHolderAlive(holder: LockHolder): Promise<boolean>;
}

export interface LagRepository {
  /** Notes a change seen upstream (once while it is pending). */
  recordChange(mirror: string, idx: string, project: string, seenAt: number): Promise<void>;
  /**
   * A sync that started at `runStartedAt` published: changes it covered (of its project, or all
   * when it synced the whole mirror) seen before it started are now published. Returns how many.
   */
  recordPublished(
    mirror: string,
    project: string | null,
    runStartedAt: number,
    publishedAt: number,
    runId: number | null,
  ): Promise<number>;
  /** Milliseconds the mirror (or one project) has been behind upstream now (0 when current). */
  lagMs(mirror: string, now: number, project?: string): Promise<number>;
  /** A look at upstream at `at`: its pages were read (no `failure`), or could not be. */
  recordCheck(mirror: string, at: number, failure?: string): Promise<void>;
  check(mirror: string): Promise<UpstreamCheck | undefined>;
  /** Every mirror's check record, in one query. */
  allChecks(): Promise<Map<string, UpstreamCheck>>;
  history(mirror: string, limit?: number): Promise<LagSample[]>;
}

/** The pull-through cache's records: pages fetched on demand and the files they list. */
export interface ProxyCacheRepository {
  page(mirror: string, idx: string, project: string): Promise<ProxyPageRow | undefined>;
  /** A page's validators and status, without its (possibly large) body. */
  pageMeta(mirror: string, idx: string, project: string): Promise<ProxyPageRow | undefined>;
  /** Stores files a page lists (one batch of a big page), atomically. */
  putFiles(files: readonly ProxyFileRow[]): Promise<void>;
  /** Stores a fetched page and the files it lists, atomically; old pages beyond a bound go. */
  putPage(row: ProxyPageRow, files: readonly ProxyFileRow[]): Promise<void>;
  /** A 304 from upstream: the cached page is fresh again (best effort on a full disk). */
  touchPage(mirror: string, idx: string, project: string, now: number): Promise<void>;
  file(mirror: string, path: string): Promise<ProxyFileRow | undefined>;
  /** Bytes of blobs fetched on demand (the pull-through cache). */
  fetchedBytes(): Promise<number>;
  /**
   * Blobs fetched on demand that no published snapshot lists and no stored manifest references,
   * least recently used first (evicting a manifest makes what it references candidates).
   */
  evictionCandidates(limit: number): Promise<{ sha256: string; size: number }[]>;
  /** Records the digest of downloaded bytes (for files upstream lists without one). */
  setDigest(
    mirror: string,
    path: string,
    sha256: string,
    size: number,
    hashSource: "index" | "computed",
  ): Promise<void>;
}

/** A tag of a repository and the digest it named when last checked upstream. */
export interface TagRow {
  mirror: string;
  repository: string;
  tag: string;
  /** `sha256:<hex>`. */
  digest: string;
  mediaType: string;
  /** When upstream last confirmed (or first gave) this digest. */
  checkedAt: number;
}

/** A manifest kept for a repository: raw bytes in the blob store under the sha256 of `digest`. */
export interface ManifestRow {
  mirror: string;
  repository: string;
  /** `sha256:<hex>` of the raw bytes. */
  digest: string;
  mediaType: string;
  size: number;
  fetchedAt: number;
  lastUsedAt: number;
}

/** A digest a manifest points at (its config, a layer, an index's child manifest). */
export interface ManifestReference {
  /** `sha256:<hex>` (or another algorithm's digest, which the blob store cannot hold). */
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * Content-addressed manifests and the tags that name them (OCI registries; any kind whose content
 * is a graph of digests). References are complete for every manifest stored, so garbage collection
 * across kinds can tell which blobs something still points at.
 */
export interface ManifestRepository {
  tag(mirror: string, repository: string, tag: string): Promise<TagRow | undefined>;
  /** Records what a tag names now (replacing what it named before). */
  putTag(row: TagRow): Promise<void>;
  /** Upstream confirmed the tag unchanged at `checkedAt` (best effort on a full disk). */
  touchTag(mirror: string, repository: string, tag: string, checkedAt: number): Promise<void>;
  tagsOf(mirror: string, repository?: string): Promise<TagRow[]>;
  manifest(mirror: string, repository: string, digest: string): Promise<ManifestRow | undefined>;
  /** The manifest with this digest in any repository of any mirror (the bytes are the same). */
  manifestAnywhere(digest: string): Promise<ManifestRow | undefined>;
  /** Stores a manifest's row and its references together. */
  putManifest(row: ManifestRow, references: readonly ManifestReference[]): Promise<void>;
  /** Best effort: a use only orders eviction. */
  touchManifest(mirror: string, repository: string, digest: string, now: number): Promise<void>;
  manifestsOf(mirror: string): Promise<ManifestRow[]>;
  /** What a manifest points at (empty when unknown). */
  references(parent: string): Promise<ManifestReference[]>;
  /** A digest some stored manifest points at, with its declared size and media type. */
  referenced(child: string): Promise<ManifestReference | undefined>;
  /**
   * Every digest that something stored still needs: each manifest kept by any mirror and every
   * digest such a manifest references.
   */
  liveDigests(): Promise<Set<string>>;
  /**
   * What a mirror holds through its kept manifests beyond its published snapshots: the stored
   * manifests and the stored blobs they reference, each once (a pull-through mirror's size).
   */
  cachedBeyondSnapshots(mirror: string): Promise<{ count: number; bytes: number }>;
  /** Forgets a manifest of a repository (and its references once no repository keeps it). */
  deleteManifest(mirror: string, repository: string, digest: string): Promise<void>;
  deleteTag(mirror: string, repository: string, tag: string): Promise<void>;
}

/** Every repository of one state backend (StateStore holds the SQLite ones). */
export interface StateRepositories {
  readonly mirrors: MirrorRepository;
  readonly snapshots: SnapshotRepository;
  readonly blobs: BlobRepository;
  readonly runs: RunRepository;
  readonly locks: SyncLocks;
  readonly lag: LagRepository;
  readonly proxyCache: ProxyCacheRepository;
  readonly manifests: ManifestRepository;
}
