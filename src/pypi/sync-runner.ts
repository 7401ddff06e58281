// One sync run of a PyPI-style mirror: read upstream pages, apply the filters, diff against the
// current snapshot, download what is new (single-flight, verified), take core metadata, and
// publish every index of the mirror in one transaction — or publish nothing and record why.
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { AppContext, MirrorContext } from "../app-context.js";
import type { PypiMirrorConfig } from "../config/schema.js";
import { describeError, FreshmirrorError, StoreWriteError, SyncFailedError, UsageError } from "../errors.js";
import { withBlob } from "../store/blob-store.js";
import type { FileRecord, IndexPublication, ProjectRecord } from "../store/state-store.js";
import type { FetchedBlob } from "../sync/in-flight-download.js";
import { redactText, redactUrl } from "../upstream/redact-url.js";
import { describeFailure } from "../upstream/root-cause.js";
import { parseDistributionFilename } from "./distribution-filename.js";
import { type FileFilters, selectFiles } from "./file-filter.js";
import { encodeMirrorPath, mirrorPathFor } from "./mirror-paths.js";
import { normalizeProjectName, type ProjectPage } from "./project-page.js";
import {
  parseSimpleIndex,
  parseSimpleProjectList,
  SIMPLE_INDEX_ACCEPT,
} from "./simple-index-content-type.js";
import { planIndexSync, type WantedFile } from "./sync-plan.js";
import { extractWheelMetadata } from "./wheel-metadata.js";

export interface SyncProgress {
  phase: "index" | "download" | "publish";
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface SyncOptions {
  /** Sync only this project; the other projects of the snapshot are carried over unchanged. */
  project?: string | undefined;
  dryRun?: boolean;
  onProgress?: (progress: SyncProgress) => void;
  /** Receives each log line (also written to the run's log file). */
  onLog?: (line: string) => void;
  now?: () => number;
}

export interface DryRunFile {
  idx: string;
  filename: string;
  url: string;
  size: number | undefined;
}

export interface SyncReport {
  mirror: string;
  runId: number | null;
  outcome: "success" | "failed" | "dry-run";
  filesAdded: number;
  filesRemoved: number;
  bytesAdded: number;
  bytesRemoved: number;
  filesTotal: number;
  bytesTotal: number;
  upstreamRequests: number;
  warnings: string[];
  error: string | undefined;
  /** For dry runs: what would be fetched. */
  toFetch: DryRunFile[];
  durationMs: number;
  /** Releases this run published that the mirror did not have before (not on a project's first import). */
  newReleases: NewRelease[];
}

export interface NewRelease {
  project: string;
  /** The public version (2.9.1 for 2.9.1+cu128 and 2.9.1+cpu alike). */
  version: string;
  files: { idx: string; filename: string; path: string; sha256: string; size: number }[];
}

export function filtersOf(mirror: PypiMirrorConfig, project: string): FileFilters {
  return {
    versions: mirror.versions[project] ?? mirror.versions["*"],
    platforms: mirror.platforms ? [...mirror.platforms] : undefined,
    python: mirror.python ? [...mirror.python] : undefined,
    keepLatest: mirror.keepLatest,
    prereleases: mirror.prereleases,
    sdists: mirror.sdists,
    yanked: mirror.yanked,
  };
}

/** Runs `fn` over items with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let firstError: unknown;
  let failed = false;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T);
      } catch (error) {
        if (!failed) {
          failed = true;
          firstError = error;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw firstError;
  return results;
}

interface FetchedPage {
  idx: string;
  name: string;
  page: ProjectPage | undefined;
  etag: string | undefined;
}

class RunLog {
  readonly lines: string[] = [];
  readonly #path: string | undefined;
  readonly #sink: ((line: string) => void) | undefined;

  constructor(path: string | undefined, sink: ((line: string) => void) | undefined) {
    this.#path = path;
    this.#sink = sink;
  }

  write(raw: string): void {
    // Lines quote upstream URLs and messages: masked here, whatever wrote them.
    const line = redactText(raw);
    const stamped = `${new Date().toISOString()} ${line}`;
    this.lines.push(stamped);
    this.#sink?.(line);
    if (this.#path) {
      try {
        appendFileSync(this.#path, `${stamped}\n`);
      } catch {
        // A log that cannot be written (disk full) must not fail the run by itself.
      }
    }
  }
}

export async function syncMirror(
  app: AppContext,
  mirrorName: string,
  options: SyncOptions = {},
): Promise<SyncReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const mirror = app.mirror(mirrorName);
  const config = mirror.config;
  const dryRun = options.dryRun === true;
  const project = options.project === undefined ? undefined : normalizeProjectName(options.project);
  if (
    project !== undefined &&
    config.projects &&
    !config.projects.some((p) => normalizeProjectName(p) === project)
  ) {
    throw new UsageError(
      `project "${options.project}" is not among mirror "${mirrorName}"'s projects (${config.projects.join(", ")})`,
    );
  }
  const report: SyncReport = {
    mirror: mirrorName,
    runId: null,
    outcome: dryRun ? "dry-run" : "success",
    filesAdded: 0,
    filesRemoved: 0,
    bytesAdded: 0,
    bytesRemoved: 0,
    filesTotal: 0,
    bytesTotal: 0,
    upstreamRequests: 0,
    warnings: [],
    error: undefined,
    toFetch: [],
    newReleases: [],
    durationMs: 0,
  };
  const requestsBefore = mirror.client.requestCount;
  let log = new RunLog(undefined, options.onLog);
  const lockName = `sync:${mirrorName}`;
  if (!dryRun) {
    const { tookOverFrom } = app.state.acquireLock(lockName, now());
    if (tookOverFrom !== null) {
      app.state.abandonRuns(
        mirrorName,
        now(),
        `the process running it (pid ${tookOverFrom}) exited before it finished`,
      );
    }
    const logDir = join(app.logsDir, mirrorName);
    mkdirSync(logDir, { recursive: true });
    const runId = app.state.startRun(mirrorName, "sync", project ?? null, started, null);
    const logPath = join(logDir, `${runId}.log`);
    app.state.setRunLogPath(runId, logPath);
    report.runId = runId;
    log = new RunLog(logPath, options.onLog);
    app.state.updateMirror(mirrorName, { state: "syncing", lastAttemptAt: started });
    if (tookOverFrom !== null) log.write(`took over the lock of pid ${tookOverFrom}, which is gone`);
    app.events.emit({ type: "sync.started", mirror: mirrorName, runId, ...(project ? { project } : {}) });
  }
  try {
    log.write(
      `sync of ${mirrorName} from ${redactUrl(config.upstream)} (${config.indexes.join(", ")})${project ? `, project ${project}` : ""}${dryRun ? ", dry run" : ""}`,
    );
    await runSync(app, mirror, project, dryRun, report, log, options, now);
  } catch (error) {
    report.outcome = "failed";
    // Root cause first ("connection refused (ECONNREFUSED) for …"), then the whole story.
    report.error = describeFailure(error);
    log.write(`failed: ${report.error}`);
    // Failed before upstream's pages were read: upstream could not be checked (lag unknown).
    const checkedAt = app.lag.check(mirrorName)?.lastOkAt ?? null;
    if (!dryRun && (checkedAt === null || checkedAt < started))
      app.lag.recordCheck(mirrorName, now(), report.error);
  } finally {
    report.upstreamRequests = mirror.client.requestCount - requestsBefore;
    report.durationMs = now() - started;
    if (!dryRun && report.runId !== null) {
      const ended = now();
      try {
        app.state.finishRun(
          report.runId,
          {
            outcome: report.outcome === "failed" ? "failed" : "success",
            filesAdded: report.filesAdded,
            filesRemoved: report.filesRemoved,
            bytesAdded: report.bytesAdded,
            bytesRemoved: report.bytesRemoved,
            filesTotal: report.filesTotal,
            bytesTotal: report.bytesTotal,
            upstreamRequests: report.upstreamRequests,
            error: report.error ?? null,
            warnings: report.warnings,
          },
          ended,
        );
        app.state.updateMirror(
          mirrorName,
          report.outcome === "failed"
            ? { state: "failed", lastEndedAt: ended, lastError: report.error ?? null }
            : { state: "success", lastEndedAt: ended, lastSuccessAt: ended, lastError: null },
        );
        if (report.outcome !== "failed")
          app.lag.recordPublished(mirrorName, project ?? null, started, ended, report.runId);
      } finally {
        app.state.releaseLock(lockName);
      }
      log.write(
        `${report.outcome}: +${report.filesAdded} files (${report.bytesAdded} bytes), -${report.filesRemoved} files, ${report.filesTotal} files published, ${report.upstreamRequests} upstream requests, ${report.durationMs} ms`,
      );
      emitOutcome(app, report, project);
    }
  }
  return report;
}

async function runSync(
  app: AppContext,
  mirror: MirrorContext,
  project: string | undefined,
  dryRun: boolean,
  report: SyncReport,
  log: RunLog,
  options: SyncOptions,
  now: () => number,
): Promise<void> {
  const config = mirror.config;
  const warn = (raw: string) => {
    const message = redactText(raw);
    report.warnings.push(message);
    log.write(`warning: ${message}`);
  };

  // 1. Which projects, per index.
  const projectsByIndex = new Map<string, string[]>();
  for (const idx of config.indexes) {
    if (project !== undefined) projectsByIndex.set(idx, [project]);
    else if (config.projects) projectsByIndex.set(idx, config.projects.map(normalizeProjectName));
    else projectsByIndex.set(idx, await fetchProjectList(mirror, idx));
  }

  // 2. Project pages, in parallel within the mirror's limit.
  const jobs = [...projectsByIndex].flatMap(([idx, names]) => names.map((name) => ({ idx, name })));
  options.onProgress?.({
    phase: "index",
    filesDone: 0,
    filesTotal: jobs.length,
    bytesDone: 0,
    bytesTotal: 0,
  });
  let pagesDone = 0;
  const pages = await mapBounded(
    jobs,
    Math.max(4, config.concurrency * 2),
    async ({ idx, name }): Promise<FetchedPage> => {
      const url = `${config.upstream}/${idx}/${name}/`;
      const response = await mirror.client.fetchPage(url, SIMPLE_INDEX_ACCEPT);
      pagesDone++;
      options.onProgress?.({
        phase: "index",
        filesDone: pagesDone,
        filesTotal: jobs.length,
        bytesDone: 0,
        bytesTotal: 0,
      });
      if (response.status === 404) {
        warn(`project ${name} not found upstream at ${url}`);
        return { idx, name, page: undefined, etag: undefined };
      }
      const page = parseSimpleIndex(response.body, response.contentType, response.url, name);
      const serial = Number(response.headers["x-pypi-last-serial"]);
      if (Number.isFinite(serial) && page.meta.lastSerial === undefined) page.meta.lastSerial = serial;
      return { idx, name, page, etag: response.etag };
    },
  );

  // Upstream answered for every page: the lag figure rests on a fresh look.
  if (!dryRun) app.lag.recordCheck(config.name, now());

  // 3. Filters and mirror paths.
  const wantedByIndex = new Map<string, WantedFile[]>();
  const projectsOut = new Map<string, ProjectRecord[]>();
  for (const idx of config.indexes) {
    wantedByIndex.set(idx, []);
    projectsOut.set(idx, []);
  }
  for (const { idx, name, page, etag } of pages) {
    if (!page) continue;
    projectsOut.get(idx)?.push({
      name,
      displayName: page.name || name,
      upstreamSerial: page.meta.lastSerial ?? null,
      upstreamTimestamp: page.meta.timestamp ?? null,
      upstreamEtag: etag ?? null,
    });
    const { selected } = selectFiles(page, filtersOf(config, name));
    const wanted = wantedByIndex.get(idx) as WantedFile[];
    for (const file of selected) {
      if (file.dotSegmentHref !== undefined) {
        warn(
          `skipped ${file.filename}: href ${JSON.stringify(file.dotSegmentHref)} has "." or ".." path segments`,
        );
        continue;
      }
      if (!mirror.client.isAllowed(file.url)) {
        warn(
          `skipped ${file.filename}: ${file.url} is on a host outside the allowlist (${config.allowedHosts.join(", ")})`,
        );
        continue;
      }
      const path = mirrorPathFor(config.upstream, file.url);
      if (path === null) {
        warn(`skipped ${file.filename}: unsafe href ${file.url}`);
        continue;
      }
      const sha256 = file.hashes.sha256?.toLowerCase();
      if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) {
        warn(`skipped ${file.filename}: malformed sha256 "${sha256}" in the index`);
        continue;
      }
      wanted.push({
        idx,
        path,
        project: name,
        filename: file.filename,
        upstreamUrl: file.url,
        sha256,
        size: file.size,
        requiresPython: file.requiresPython ?? null,
        yanked: file.yanked === false ? null : file.yanked,
        uploadTime: file.uploadTime ?? null,
        upstreamMetadata:
          file.coreMetadata === false ? undefined : { sha256: file.coreMetadata.sha256?.toLowerCase() },
      });
    }
  }

  // 4. Plan against the current snapshots.
  // One query for every blob the store knows, not one per kept file (10,000 files: ~130 ms saved).
  const storedBlobs = app.state.blobDigests();
  const blobExists = (sha256: string) => storedBlobs.has(sha256);
  const plans = config.indexes.map((idx) => {
    const snapshotId = app.state.currentSnapshotId(config.name, idx);
    const previousAll = snapshotId === undefined ? [] : app.state.filesOfSnapshot(snapshotId);
    const previousProjects = snapshotId === undefined ? [] : app.state.projects(snapshotId);
    const previous = project === undefined ? previousAll : previousAll.filter((f) => f.project === project);
    const carried = project === undefined ? [] : previousAll.filter((f) => f.project !== project);
    const carriedProjects = project === undefined ? [] : previousProjects.filter((p) => p.name !== project);
    const plan = planIndexSync(wantedByIndex.get(idx) ?? [], previous, blobExists);
    return { idx, plan, carried, carriedProjects, previousAll };
  });

  // The same blob may be wanted by several indexes (numpy in whl/cpu and whl/cu121): fetch once.
  const fetchKey = (f: WantedFile) => f.sha256 ?? f.upstreamUrl;
  const uniqueFetches = new Map<string, WantedFile>();
  for (const { plan } of plans) for (const file of plan.fetch) uniqueFetches.set(fetchKey(file), file);

  if (dryRun) {
    const sized = await mapBounded([...uniqueFetches.values()], 8, async (file) => ({
      idx: file.idx,
      filename: file.filename,
      url: redactUrl(file.upstreamUrl),
      size: file.size ?? (await mirror.client.headSize(file.upstreamUrl).catch(() => undefined)),
    }));
    report.toFetch = sized;
    report.filesAdded = sized.length;
    report.bytesAdded = sized.reduce((sum, f) => sum + (f.size ?? 0), 0);
    for (const { plan } of plans) {
      report.filesRemoved += plan.removed.length;
      report.bytesRemoved += plan.removed.reduce((sum, f) => sum + f.size, 0);
    }
    log.write(`dry run: would fetch ${sized.length} files, ${report.bytesAdded} bytes`);
    return;
  }

  // 5. Downloads (bounded), each verified by the fetcher; then core metadata.
  const downloads = [...uniqueFetches.values()];
  const progress: SyncProgress = {
    phase: "download",
    filesDone: 0,
    filesTotal: downloads.length,
    bytesDone: 0,
    bytesTotal: downloads.reduce((sum, f) => sum + (f.size ?? 0), 0),
  };
  options.onProgress?.({ ...progress });
  log.write(`${downloads.length} files to fetch (${progress.bytesTotal} bytes known)`);
  const fetched = new Map<
    string,
    { blob: FetchedBlob; metadata: Pick<FileRecord, "metadataSha256" | "metadataSize" | "metadataSource"> }
  >();
  const failures: string[] = [];
  let firstFailure: unknown;
  await mapBounded(downloads, config.concurrency, async (file) => {
    try {
      const download = mirror.fetcher.fetch({
        url: file.upstreamUrl,
        filename: file.filename,
        sha256: file.sha256,
        size: file.size,
        origin: "sync",
      });
      let last = 0;
      const onProgress = () => {
        progress.bytesDone += download.bytesWritten - last;
        last = download.bytesWritten;
        options.onProgress?.({ ...progress });
      };
      download.on("progress", onProgress);
      const blob = await download.done.finally(() => download.off("progress", onProgress));
      if (blob.hashSource === "computed") {
        warn(`${file.filename} has no sha256 upstream; recorded with the computed sha256 ${blob.sha256}`);
      }
      const metadata = await takeCoreMetadata(app, mirror, file, blob, warn);
      fetched.set(fetchKey(file), { blob, metadata });
      progress.filesDone++;
      options.onProgress?.({ ...progress });
      log.write(
        `fetched ${file.filename} (${blob.size} bytes, sha256 ${blob.sha256}${blob.reused ? ", already in store" : ""})`,
      );
    } catch (error) {
      const message = describeFailure(error);
      if (failures.length === 0) firstFailure = error;
      failures.push(message);
      log.write(`error: ${message}`);
      if (error instanceof StoreWriteError) throw error;
    }
  });
  if (failures.length > 0) {
    throw new SyncFailedError(
      config.name,
      `${failures.length} of ${downloads.length} files failed; nothing was published. First: ${failures[0]}`,
      firstFailure,
    );
  }

  // 6. Publish every index in one transaction.
  options.onProgress?.({ ...progress, phase: "publish" });
  const publications: IndexPublication[] = [];
  const added: { idx: string; file: FileRecord }[] = [];
  for (const { idx, plan, carried, carriedProjects } of plans) {
    const files: FileRecord[] = [...carried];
    for (const { wanted, previous } of plan.kept) {
      files.push({ ...previous, ...recordFields(wanted), sha256: previous.sha256, size: previous.size });
    }
    for (const wanted of plan.fetch) {
      const got = fetched.get(fetchKey(wanted));
      if (!got)
        throw new FreshmirrorError("FM_ERR_SYNC_INTERNAL", `no download recorded for ${wanted.filename}`);
      const record: FileRecord = {
        ...recordFields(wanted),
        sha256: got.blob.sha256,
        size: got.blob.size,
        hashSource: got.blob.hashSource,
        ...got.metadata,
      };
      files.push(record);
      added.push({ idx, file: record });
      report.filesAdded++;
      report.bytesAdded += got.blob.size;
    }
    report.filesRemoved += plan.removed.length;
    report.bytesRemoved += plan.removed.reduce((sum, f) => sum + f.size, 0);
    report.filesTotal += files.length;
    report.bytesTotal += files.reduce((sum, f) => sum + f.size, 0);
    publications.push({ idx, projects: [...carriedProjects, ...(projectsOut.get(idx) ?? [])], files });
  }
  app.state.publish(config.name, report.runId, publications, now());
  report.newReleases = findNewReleases(
    plans.flatMap((p) => p.previousAll),
    added,
  );
}

/** sync.succeeded / sync.failed, and release.new for each release the run published. */
function emitOutcome(app: AppContext, report: SyncReport, project: string | undefined): void {
  const runId = report.runId as number;
  const scope = project ? { project } : {};
  if (report.outcome === "failed") {
    app.events.emit({
      type: "sync.failed",
      mirror: report.mirror,
      runId,
      ...scope,
      error: report.error ?? "unknown",
    });
    return;
  }
  app.events.emit({
    type: "sync.succeeded",
    mirror: report.mirror,
    runId,
    ...scope,
    filesAdded: report.filesAdded,
    bytesAdded: report.bytesAdded,
    filesRemoved: report.filesRemoved,
    durationMs: report.durationMs,
  });
  for (const release of report.newReleases) {
    app.events.emit({
      type: "release.new",
      mirror: report.mirror,
      project: release.project,
      version: release.version,
      runId,
      files: release.files.map((file) => ({
        filename: file.filename,
        url: `${app.publicUrl}/${report.mirror}/${encodeMirrorPath(file.path)}`,
        sha256: file.sha256,
        size: file.size,
      })),
    });
  }
}

function publicVersionOf(filename: string): string | undefined {
  const version = parseDistributionFilename(filename)?.version;
  return version?.split("+")[0];
}

/** Releases among the added files whose project had files before, but none of that release. */
function findNewReleases(
  previous: readonly FileRecord[],
  added: readonly { idx: string; file: FileRecord }[],
): NewRelease[] {
  const before = new Map<string, Set<string>>();
  for (const file of previous) {
    const version = publicVersionOf(file.filename);
    if (version === undefined) continue;
    const versions = before.get(file.project) ?? new Set<string>();
    versions.add(version);
    before.set(file.project, versions);
  }
  const releases = new Map<string, NewRelease>();
  for (const { idx, file } of added) {
    const version = publicVersionOf(file.filename);
    const known = before.get(file.project);
    if (version === undefined || known === undefined || known.has(version)) continue;
    const key = `${file.project}\0${version}`;
    const release = releases.get(key) ?? { project: file.project, version, files: [] };
    release.files.push({
      idx,
      filename: file.filename,
      path: file.path,
      sha256: file.sha256,
      size: file.size,
    });
    releases.set(key, release);
  }
  return [...releases.values()];
}

function recordFields(
  wanted: WantedFile,
): Omit<FileRecord, "sha256" | "size" | "hashSource" | "metadataSha256" | "metadataSize" | "metadataSource"> {
  return {
    path: wanted.path,
    project: wanted.project,
    filename: wanted.filename,
    upstreamUrl: wanted.upstreamUrl,
    requiresPython: wanted.requiresPython,
    yanked: wanted.yanked,
    uploadTime: wanted.uploadTime,
  };
}

async function fetchProjectList(mirror: MirrorContext, idx: string): Promise<string[]> {
  const url = `${mirror.config.upstream}/${idx}/`;
  const response = await mirror.client.fetchPage(url, SIMPLE_INDEX_ACCEPT);
  if (response.status !== 200)
    throw new SyncFailedError(mirror.config.name, `project list ${url} answered ${response.status}`);
  const list = parseSimpleProjectList(response.body, response.contentType, response.url);
  return [...new Set(list.projects.map(normalizeProjectName))];
}

/**
 * PEP 658: upstream's `.metadata` file when it offers one (verified against its hash), else the
 * METADATA extracted from the wheel in the store. Failing both leaves the file without metadata.
 */
async function takeCoreMetadata(
  app: AppContext,
  mirror: MirrorContext,
  file: WantedFile,
  blob: FetchedBlob,
  warn: (message: string) => void,
): Promise<Pick<FileRecord, "metadataSha256" | "metadataSize" | "metadataSource">> {
  const none = { metadataSha256: null, metadataSize: null, metadataSource: null };
  if (!mirror.config.coreMetadata || parseDistributionFilename(file.filename)?.kind !== "wheel") return none;
  if (file.upstreamMetadata) {
    try {
      const metadata = await mirror.fetcher.fetch({
        url: `${file.upstreamUrl}.metadata`,
        filename: `${file.filename}.metadata`,
        sha256: file.upstreamMetadata.sha256,
        origin: "sync",
      }).done;
      return { metadataSha256: metadata.sha256, metadataSize: metadata.size, metadataSource: "upstream" };
    } catch (error) {
      warn(
        `upstream metadata for ${file.filename} unusable (${describeError(error)}); extracting it from the wheel`,
      );
    }
  }
  try {
    const content = await withBlob(app.blobs, blob.sha256, (bytes) =>
      extractWheelMetadata(bytes, { filename: file.filename }),
    );
    const sha256 = await app.blobs.putBuffer(content, `${file.filename}.metadata`);
    app.state.recordBlob(sha256, content.length, "metadata", Date.now());
    return { metadataSha256: sha256, metadataSize: content.length, metadataSource: "extracted" };
  } catch (error) {
    if (error instanceof StoreWriteError) throw error;
    warn(`no core metadata for ${file.filename}: ${describeError(error)}`);
    return none;
  }
}
