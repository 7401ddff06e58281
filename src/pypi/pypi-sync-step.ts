// The PyPI sync step (the generic run around it is src/sync/run-lifecycle.ts): read the
// upstream project lists and pages, apply the filters, diff against the current snapshots,
// download what is new (single-flight, verified), take core metadata, and publish every index
// of the mirror in one transaction — or throw, and publish nothing.
import { StoreWriteError, SyncFailedError, SyncInternalError, UsageError } from "../errors.js";
import type { BlobStore } from "../store/blob-store.js";
import type {
  FileRecord,
  IndexPublication,
  ProjectRecord,
  StateRepositories,
} from "../store/state-repositories.js";
import type { BlobFetcher, FetchedBlob } from "../sync/blob-fetcher.js";
import { mapBounded } from "../sync/bounded-map.js";
import { strongestOtherHash } from "../sync/other-hash.js";
import type { SyncProgress, SyncStep, SyncStepContext } from "../sync/sync-step.js";
import type { UpstreamClient } from "../upstream/http-client.js";
import { redactUrl } from "../upstream/redact-url.js";
import { describeFailure } from "../upstream/root-cause.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { takeCoreMetadata } from "./core-metadata.js";
import { type FileFilters, selectFiles } from "./file-filter.js";
import { mirrorPathFor } from "./mirror-paths.js";
import { findNewReleases } from "./new-releases.js";
import { normalizeProjectName, type ProjectPage } from "./project-page.js";
import {
  parseSimpleIndex,
  parseSimpleProjectList,
  SIMPLE_INDEX_ACCEPT,
} from "./simple-index-content-type.js";
import { planIndexSync, type WantedFile } from "./sync-plan.js";

export interface PypiSyncDeps {
  readonly config: PypiMirrorConfig;
  readonly client: UpstreamClient;
  readonly fetcher: BlobFetcher;
  readonly state: StateRepositories;
  readonly blobs: BlobStore;
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

interface FetchedPage {
  idx: string;
  name: string;
  page: ProjectPage | undefined;
  etag: string | undefined;
}

export function pypiSyncStep(mirror: PypiSyncDeps): SyncStep {
  const config = mirror.config;
  return {
    normalizeProject(project) {
      const normalized = normalizeProjectName(project);
      if (config.projects && !config.projects.some((p) => normalizeProjectName(p) === normalized)) {
        throw new UsageError(
          `project "${project}" is not among mirror "${config.name}"'s projects (${config.projects.join(", ")})`,
        );
      }
      return normalized;
    },
    describe: () => `${redactUrl(config.upstream)} (${config.indexes.join(", ")})`,
    run: (ctx) => runPypiSync(mirror, ctx),
  };
}

async function runPypiSync(mirror: PypiSyncDeps, ctx: SyncStepContext): Promise<void> {
  const { project, dryRun, report, log, warn, onProgress, upstreamChecked, now } = ctx;
  const config = mirror.config;

  // 1. Which projects, per index.
  const projectsByIndex = new Map<string, string[]>();
  for (const idx of config.indexes) {
    if (project !== undefined) projectsByIndex.set(idx, [project]);
    else if (config.projects) projectsByIndex.set(idx, config.projects.map(normalizeProjectName));
    else projectsByIndex.set(idx, await fetchProjectList(mirror, idx));
  }

  // 2. Project pages, in parallel within the mirror's limit.
  const jobs = [...projectsByIndex].flatMap(([idx, names]) => names.map((name) => ({ idx, name })));
  onProgress({
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
      onProgress({
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
  await upstreamChecked();

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
        otherHash: sha256 === undefined ? strongestOtherHash(file.hashes) : undefined,
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
  const storedBlobs = await mirror.state.blobs.digests();
  const blobExists = (sha256: string) => storedBlobs.has(sha256);
  const plans = [];
  for (const idx of config.indexes) {
    const snapshotId = await mirror.state.snapshots.currentSnapshotId(config.name, idx);
    const previousAll =
      snapshotId === undefined ? [] : await mirror.state.snapshots.filesOfSnapshot(snapshotId);
    const previousProjects =
      snapshotId === undefined ? [] : await mirror.state.snapshots.projects(snapshotId);
    const previous = project === undefined ? previousAll : previousAll.filter((f) => f.project === project);
    const carried = project === undefined ? [] : previousAll.filter((f) => f.project !== project);
    const carriedProjects = project === undefined ? [] : previousProjects.filter((p) => p.name !== project);
    const plan = planIndexSync(wantedByIndex.get(idx) ?? [], previous, blobExists);
    plans.push({ idx, plan, carried, carriedProjects, previousAll });
  }

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
    log(`dry run: would fetch ${sized.length} files, ${report.bytesAdded} bytes`);
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
    // Pages without sizes (download.pytorch.org's): each size is learnt when its download answers.
    filesUnsized: downloads.filter((f) => f.size === undefined).length,
  };
  onProgress({ ...progress });
  log(`${downloads.length} files to fetch (${progress.bytesTotal} bytes known)`);
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
        otherHash: file.otherHash,
        size: file.size,
        origin: "sync",
      });
      let last = 0;
      let sized = file.size !== undefined;
      const learnSize = (size: number | undefined) => {
        if (sized || size === undefined) return;
        sized = true;
        progress.bytesTotal += size;
        progress.filesUnsized = (progress.filesUnsized ?? 1) - 1;
      };
      const onBytes = () => {
        learnSize(download.expectedSize);
        progress.bytesDone += download.bytesWritten - last;
        last = download.bytesWritten;
        onProgress({ ...progress });
      };
      download.on("progress", onBytes);
      const blob = await download.done
        .catch((error: unknown) => {
          // A failed file no longer waits to be sized.
          if (!sized) {
            sized = true;
            progress.filesUnsized = (progress.filesUnsized ?? 1) - 1;
          }
          throw error;
        })
        .finally(() => download.off("progress", onBytes));
      learnSize(blob.size);
      // Bytes that came without progress events (a blob already stored) still count as done.
      if (blob.size > last) progress.bytesDone += blob.size - last;
      if (blob.hashSource === "computed") {
        warn(`${file.filename} has no sha256 upstream; recorded with the computed sha256 ${blob.sha256}`);
      }
      const metadata = await takeCoreMetadata(mirror, file, blob, warn);
      fetched.set(fetchKey(file), { blob, metadata });
      progress.filesDone++;
      onProgress({ ...progress });
      log(
        `fetched ${file.filename} (${blob.size} bytes, sha256 ${blob.sha256}${blob.reused ? ", already in store" : ""})`,
      );
    } catch (error) {
      const message = describeFailure(error);
      if (failures.length === 0) firstFailure = error;
      failures.push(message);
      log(`error: ${message}`);
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
  onProgress({ ...progress, phase: "publish" });
  const publications: IndexPublication[] = [];
  const added: { idx: string; file: FileRecord }[] = [];
  for (const { idx, plan, carried, carriedProjects } of plans) {
    const files: FileRecord[] = [...carried];
    for (const { wanted, previous } of plan.kept) {
      files.push({ ...previous, ...recordFields(wanted), sha256: previous.sha256, size: previous.size });
    }
    for (const wanted of plan.fetch) {
      const got = fetched.get(fetchKey(wanted));
      if (!got) throw new SyncInternalError(`no download recorded for ${wanted.filename}`);
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
  await mirror.state.snapshots.publish(config.name, report.runId, publications, now());
  report.newReleases = findNewReleases(
    plans.flatMap((p) => p.previousAll),
    added,
  );
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

async function fetchProjectList(mirror: PypiSyncDeps, idx: string): Promise<string[]> {
  const url = `${mirror.config.upstream}/${idx}/`;
  const response = await mirror.client.fetchPage(url, SIMPLE_INDEX_ACCEPT);
  if (response.status !== 200)
    throw new SyncFailedError(mirror.config.name, `project list ${url} answered ${response.status}`);
  const list = parseSimpleProjectList(response.body, response.contentType, response.url);
  return [...new Set(list.projects.map(normalizeProjectName))];
}
