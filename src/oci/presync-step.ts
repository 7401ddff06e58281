// The OCI pre-sync as a sync step: plans what `images:` asks for (presync-plan.ts), fetches the
// blobs through the mirror's single-flight BlobFetcher (each verified by its sha256 and size),
// keeps the manifests as their raw upstream bytes, and publishes one snapshot per repository
// atomically (idx = repository, a project per tag whose etag is the tag's digest, a file per
// manifest and blob it keeps). Tags whose digest moved fire `image.updated` once published.
// A targeted sync (`repo` or `repo:tag`) carries the repository's other tags over.
import { SyncFailedError, UsageError } from "../errors.js";
import type { EventInput } from "../events/event-bus.js";
import type { BlobStore } from "../store/blob-store.js";
import {
  type BlobRepository,
  type FileRecord,
  fileRecord,
  type IndexPublication,
  type ProjectRecord,
  type SnapshotRepository,
} from "../store/state-repositories.js";
import { mapBounded } from "../sync/bounded-map.js";
import type { FetchedBlob } from "../sync/in-flight-download.js";
import type { SyncProgress, SyncStep, SyncStepContext } from "../sync/sync-step.js";
import { describeFailure } from "../upstream/root-cause.js";
import { type Manifest, parseManifest } from "./manifest.js";
import type { NormalPlatform } from "./platform.js";
import { type ManifestSource, type PresyncImage, planManifest, planPresync } from "./presync-plan.js";
import { type Digest, parseDigest, validateName, validateTag } from "./reference.js";
import { OciError } from "./registry-errors.js";
import { splitSubject } from "./subject-matcher.js";
import type { TagPattern } from "./tag-pattern.js";

/** What the step needs of the mirror's config. */
export interface PresyncMirror {
  readonly name: string;
  /** The upstream's origin (`https://registry-1.docker.io`), for the files' upstream URLs. */
  readonly upstream: string;
  readonly images: Readonly<Record<string, readonly TagPattern[]>>;
  /** Platforms fetched ahead; empty: all. */
  readonly platforms: readonly NormalPlatform[];
  readonly concurrency: number;
}

/** A manifest kept for a repository, as the pull-through cache reads it (src/oci routes). */
export interface KeptManifest {
  mirror: string;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  fetchedAt: number;
  lastUsedAt: number;
}

/** Where kept manifests and tags are recorded, so that pulls find what the sync fetched. */
export interface ManifestRecords {
  putManifest(
    row: KeptManifest,
    references: readonly { digest: string; mediaType: string; size: number }[],
  ): Promise<void>;
  putTag(row: {
    mirror: string;
    repository: string;
    tag: string;
    digest: string;
    mediaType: string;
    checkedAt: number;
  }): Promise<void>;
}

export interface PresyncStepDeps {
  readonly mirror: PresyncMirror;
  /** Upstream's tag lists and manifests (the registry client). */
  readonly source: ManifestSource;
  /** Fetches one blob of a repository into the store, verified (the mirror's BlobFetcher). */
  fetchBlob(
    repository: string,
    digest: Digest,
    size: number,
    onBytes: (n: number) => void,
  ): Promise<FetchedBlob>;
  readonly blobs: BlobStore;
  readonly records: BlobRepository;
  readonly snapshots: SnapshotRepository;
  readonly manifests: ManifestRecords;
  emit(event: EventInput): void;
  describe(): string;
}

/** `repo` or `repo:tag` as a sync's subject, checked against the images the mirror pre-syncs. */
export function parsePresyncSubject(
  mirror: PresyncMirror,
  subject: string,
): { repository: string; tag: string | undefined } {
  const { repository, tag } = splitSubject(subject.trim());
  const bad = validateName(repository) ?? (tag === undefined ? undefined : validateTag(tag));
  if (bad) throw new UsageError(`${mirror.name}: ${bad.message}`);
  if (!Object.hasOwn(mirror.images, repository))
    throw new UsageError(
      `${mirror.name} does not pre-sync ${repository} (images: ${Object.keys(mirror.images).join(", ") || "none"})`,
    );
  return { repository, tag };
}

function manifestPath(repository: string, digest: string): string {
  return `${repository}/manifests/${digest}`;
}

function blobPath(repository: string, digest: string): string {
  return `${repository}/blobs/${digest}`;
}

async function readManifest(blobs: BlobStore, digest: string): Promise<Manifest | undefined> {
  const parsed = parseDigest(digest);
  if (parsed instanceof OciError || parsed.algorithm !== "sha256") return undefined;
  const size = await blobs.stat(parsed.hex);
  if (size === undefined) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.read(parsed.hex)) chunks.push(chunk as Buffer);
  const manifest = parseManifest(Buffer.concat(chunks), { expectedDigest: parsed });
  return manifest instanceof OciError ? undefined : manifest;
}

/**
 * The files a repository's snapshot lists for its tags: each tag's manifest, the selected
 * children of an index, and their configs and layers, each once (the first tag naming it owns the
 * row), all read back from the store. What is not stored (a platform left on demand) is not listed.
 */
export async function repositoryFiles(
  deps: Pick<PresyncStepDeps, "blobs" | "records">,
  mirror: PresyncMirror,
  repository: string,
  tags: readonly { tag: string; digest: string }[],
): Promise<{ files: FileRecord[]; missing: string[] }> {
  const files = new Map<string, FileRecord>();
  const missing: string[] = [];
  const add = (path: string, tag: string, digest: Digest, size: number) => {
    if (files.has(path)) return;
    files.set(
      path,
      fileRecord({
        path,
        project: tag,
        filename: digest.value,
        upstreamUrl: `${mirror.upstream}/v2/${path}`,
        sha256: digest.hex,
        size,
      }),
    );
  };
  const walk = async (tag: string, digest: string, depth: number): Promise<void> => {
    const path = manifestPath(repository, digest);
    if (files.has(path) || depth > 4) return;
    const manifest = await readManifest(deps.blobs, digest);
    if (!manifest) {
      missing.push(`${repository}@${digest}`);
      return;
    }
    add(path, tag, manifest.digest, manifest.size);
    const step = planManifest(manifest, mirror.platforms);
    for (const d of step.blobs) {
      if (d.digest.algorithm !== "sha256") continue;
      const size = await deps.blobs.stat(d.digest.hex);
      if (size === undefined) missing.push(`${repository}@${d.digest.value}`);
      else add(blobPath(repository, d.digest.value), tag, d.digest, size);
    }
    for (const child of step.manifests) await walk(tag, child.digest.value, depth + 1);
  };
  for (const { tag, digest } of tags) await walk(tag, digest, 0);
  return { files: [...files.values()], missing };
}

/**
 * The blobs among `digests` the store has, recorded and with their bytes. With `claimAt`, their
 * records are claimed (BlobRepository.claim) so that gc keeps them until the snapshot lists them;
 * bytes without a record are not counted (gc may be removing them): they are fetched again.
 */
async function storedBlobs(
  deps: Pick<PresyncStepDeps, "blobs" | "records">,
  digests: readonly Digest[],
  claimAt: number | undefined,
): Promise<Set<string>> {
  const hexes = [...new Set(digests.map((d) => d.hex))];
  const recorded =
    claimAt === undefined
      ? new Set(
          (
            await Promise.all(hexes.map(async (hex) => ((await deps.records.get(hex)) ? hex : undefined)))
          ).filter((hex) => hex !== undefined),
        )
      : await deps.records.claim(hexes, claimAt);
  const stored = new Set<string>();
  for (const hex of recorded) if ((await deps.blobs.stat(hex)) !== undefined) stored.add(hex);
  return stored;
}

export function presyncStep(deps: PresyncStepDeps): SyncStep {
  const { mirror } = deps;
  return {
    normalizeProject(project) {
      const { repository, tag } = parsePresyncSubject(mirror, project);
      return tag === undefined ? repository : `${repository}:${tag}`;
    },
    describe: () => deps.describe(),
    run: (ctx) => runPresync(deps, ctx),
  };
}

async function runPresync(deps: PresyncStepDeps, ctx: SyncStepContext): Promise<void> {
  const { mirror } = deps;
  const { report } = ctx;
  const subject = ctx.project === undefined ? undefined : parsePresyncSubject(mirror, ctx.project);
  const images: PresyncImage[] = Object.entries(mirror.images)
    .filter(([repository]) => subject === undefined || repository === subject.repository)
    .map(([repository, tags]) => ({
      repository,
      // A one-tag sync asks for that tag by name (it may have just appeared upstream).
      tags: subject?.tag !== undefined ? [{ kind: "exact", tag: subject.tag, source: subject.tag }] : tags,
    }));
  if (images.length === 0) {
    ctx.log(`${mirror.name}: no images: listed; pulled on demand only, nothing to pre-sync`);
    await ctx.upstreamChecked();
    return;
  }

  // 1. Plan: tags, manifests (fetched now: they are small), blobs to fetch.
  ctx.onProgress({ phase: "index", filesDone: 0, filesTotal: images.length, bytesDone: 0, bytesTotal: 0 });
  const plan = await planPresync(images, mirror.platforms, deps.source, mirror.concurrency);
  for (const warning of plan.warnings) ctx.warn(warning);
  await ctx.upstreamChecked();
  ctx.log(
    `${plan.tags.length} tag(s), ${plan.manifests.length} manifest(s), ${plan.blobs.length} blob(s) to keep; ${plan.skipped.length} left to on demand`,
  );

  const toFetch: { repository: string; digest: Digest; size: number }[] = [];
  const stored = await storedBlobs(
    deps,
    plan.blobs.map((b) => b.descriptor.digest).filter((d) => d.algorithm === "sha256"),
    ctx.dryRun ? undefined : ctx.now(),
  );
  for (const b of plan.blobs) {
    const d = b.descriptor.digest;
    if (d.algorithm !== "sha256") {
      ctx.warn(`${b.repository}@${d.value}: only sha256 blobs are mirrored; left to on demand`);
      continue;
    }
    if (!stored.has(d.hex)) toFetch.push({ repository: b.repository, digest: d, size: b.descriptor.size });
  }
  const newManifests = [];
  for (const m of plan.manifests)
    if ((await deps.blobs.stat(m.manifest.digest.hex)) === undefined) newManifests.push(m);

  if (ctx.dryRun) {
    report.toFetch = [
      ...newManifests.map((m) => ({
        idx: m.repository,
        filename: m.manifest.digest.value,
        url: `${mirror.upstream}/v2/${manifestPath(m.repository, m.manifest.digest.value)}`,
        size: m.manifest.size,
      })),
      ...toFetch.map((b) => ({
        idx: b.repository,
        filename: b.digest.value,
        url: `${mirror.upstream}/v2/${blobPath(b.repository, b.digest.value)}`,
        size: b.size,
      })),
    ];
    report.filesAdded = report.toFetch.length;
    report.bytesAdded = report.toFetch.reduce((n, f) => n + (f.size ?? 0), 0);
    ctx.log(`dry run: would fetch ${report.filesAdded} files, ${report.bytesAdded} bytes`);
    return;
  }

  // 2. Blobs, bounded, each verified by the fetcher.
  const progress: SyncProgress = {
    phase: "download",
    filesDone: 0,
    filesTotal: toFetch.length,
    bytesDone: 0,
    bytesTotal: toFetch.reduce((n, b) => n + b.size, 0),
  };
  ctx.onProgress({ ...progress });
  const failures: string[] = [];
  let firstFailure: unknown;
  await mapBounded(toFetch, mirror.concurrency, async (b) => {
    try {
      const got = await deps.fetchBlob(b.repository, b.digest, b.size, (n) => {
        progress.bytesDone += n;
        ctx.onProgress({ ...progress });
      });
      progress.filesDone++;
      ctx.onProgress({ ...progress });
      if (!got.reused) {
        report.filesAdded++;
        report.bytesAdded += got.size;
      }
      ctx.log(
        `fetched ${b.repository}@${b.digest.value} (${got.size} bytes${got.reused ? ", already in store" : ""})`,
      );
    } catch (error) {
      if (failures.length === 0) firstFailure = error;
      failures.push(`${b.repository}@${b.digest.value}: ${describeFailure(error)}`);
      ctx.log(`error: ${failures[failures.length - 1]}`);
    }
  });
  if (failures.length > 0)
    throw new SyncFailedError(
      mirror.name,
      `${failures.length} of ${toFetch.length} blobs failed; nothing was published. First: ${failures[0]}`,
      firstFailure,
    );

  // 3. Manifests: their raw bytes (digest unchanged), with what they reference.
  const now = ctx.now();
  for (const m of plan.manifests) {
    const { manifest } = m;
    if (manifest.digest.algorithm !== "sha256") continue;
    const hex = await deps.blobs.putBuffer(manifest.raw, `manifest-${manifest.digest.hex.slice(0, 12)}`);
    if (hex !== manifest.digest.hex)
      throw new SyncFailedError(mirror.name, `manifest ${manifest.digest.value} was stored as sha256:${hex}`);
    if (newManifests.includes(m)) {
      report.filesAdded++;
      report.bytesAdded += manifest.size;
    }
    await deps.records.record(hex, manifest.size, "sync", now);
    await deps.manifests.putManifest(
      {
        mirror: mirror.name,
        repository: m.repository,
        digest: manifest.digest.value,
        mediaType: manifest.mediaType,
        size: manifest.size,
        fetchedAt: now,
        lastUsedAt: now,
      },
      (manifest.kind === "index" ? manifest.manifests : [manifest.config, ...manifest.layers]).map((d) => ({
        digest: d.digest.value,
        mediaType: d.mediaType,
        size: d.size,
      })),
    );
  }

  // 4. One snapshot per repository, all published together.
  ctx.onProgress({ ...progress, phase: "publish" });
  const publications: IndexPublication[] = [];
  const moved: { repository: string; tag: string; oldDigest: string | undefined; newDigest: string }[] = [];
  for (const image of images) {
    const { repository } = image;
    const currentId = await deps.snapshots.currentSnapshotId(mirror.name, repository);
    const previous = new Map<string, ProjectRecord>(
      currentId === undefined ? [] : (await deps.snapshots.projects(currentId)).map((p) => [p.name, p]),
    );
    const synced = plan.tags.filter((t) => t.repository === repository);
    const tags = new Map<string, string>();
    // Carried over: the repository's other tags, when only one tag was synced.
    if (subject?.tag !== undefined)
      for (const p of previous.values())
        if (p.upstreamEtag && p.name !== subject.tag) tags.set(p.name, p.upstreamEtag);
    for (const t of synced) tags.set(t.tag, t.digest);
    const sorted = [...tags.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const { files, missing } = await repositoryFiles(
      deps,
      mirror,
      repository,
      sorted.map(([tag, digest]) => ({ tag, digest })),
    );
    if (missing.length > 0)
      throw new SyncFailedError(
        mirror.name,
        `not in the store after the sync: ${missing.slice(0, 5).join(", ")}`,
      );
    publications.push({
      idx: repository,
      projects: sorted.map(([tag, digest]) => ({
        name: tag,
        displayName: `${repository}:${tag}`,
        upstreamSerial: null,
        upstreamTimestamp: null,
        upstreamEtag: digest,
      })),
      files,
    });
    report.filesTotal += files.length;
    report.bytesTotal += files.reduce((n, f) => n + f.size, 0);
    for (const t of synced) {
      const old = previous.get(t.tag)?.upstreamEtag ?? undefined;
      // A repository's first import announces nothing (as PyPI's first import of a project).
      if (currentId !== undefined && old !== t.digest)
        moved.push({ repository, tag: t.tag, oldDigest: old, newDigest: t.digest });
    }
  }
  await deps.snapshots.publish(mirror.name, report.runId, publications, ctx.now());
  for (const t of plan.tags)
    await deps.manifests.putTag({
      mirror: mirror.name,
      repository: t.repository,
      tag: t.tag,
      digest: t.digest,
      mediaType: t.mediaType,
      checkedAt: now,
    });
  for (const m of moved) {
    ctx.log(
      `${m.repository}:${m.tag} now ${m.newDigest}${m.oldDigest ? ` (was ${m.oldDigest})` : " (new tag)"}`,
    );
    deps.emit({
      type: "image.updated",
      mirror: mirror.name,
      repository: m.repository,
      tag: m.tag,
      ...(m.oldDigest === undefined ? {} : { oldDigest: m.oldDigest }),
      newDigest: m.newDigest,
      ...(report.runId === null ? {} : { runId: report.runId }),
    });
  }
}
