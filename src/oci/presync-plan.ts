// The pre-sync planner: from `images:` (repository -> tag patterns) and `platforms:`, upstream's
// tag lists and the manifests it serves, what a sync fetches ahead. An image index is kept whole,
// as its raw bytes (its digest never changes: clients verify it), while only the children for the
// selected platforms are fetched ahead with their config and layers; the other children stay
// reachable on demand through pull-through. Pure but for the ManifestSource it is handed.
// Index: https://github.com/opencontainers/image-spec/blob/main/image-index.md
import { mapBounded } from "../sync/bounded-map.js";
import { selectIndexChildren } from "./index-filter.js";
import type { Descriptor, Manifest } from "./manifest.js";
import { formatPlatform, type NormalPlatform } from "./platform.js";
import { OciError } from "./registry-errors.js";
import { needsTagList, selectTags, type TagPattern } from "./tag-pattern.js";

export interface PresyncImage {
  repository: string;
  tags: readonly TagPattern[];
}

/** Where the planner reads upstream (the registry client, or stored manifests in tests). */
export interface ManifestSource {
  listTags(repository: string): Promise<string[]>;
  getManifest(repository: string, reference: string): Promise<{ manifest: Manifest; contentType?: string }>;
}

export interface PlannedTag {
  repository: string;
  tag: string;
  /** What the tag points at now (`sha256:...`): an index or an image manifest. */
  digest: string;
  mediaType: string;
  /** Platforms fetched ahead ("" for a single image manifest, whose platform the index would tell). */
  platforms: string[];
}

export interface PlannedManifest {
  repository: string;
  manifest: Manifest;
  contentType: string | undefined;
}

export interface PlannedBlob {
  repository: string;
  descriptor: Descriptor;
}

export interface PresyncPlan {
  tags: PlannedTag[];
  /** Manifests to keep, each once (the first repository that names it). */
  manifests: PlannedManifest[];
  /** Configs and layers to fetch ahead, each once. */
  blobs: PlannedBlob[];
  /** Children left to on demand: other platforms, foreign layers. */
  skipped: PlannedBlob[];
  /** Digest -> the digests it references (all of an index's children, not only the kept ones). */
  references: Map<string, string[]>;
  warnings: string[];
}

/** What one manifest asks for next. */
export interface ManifestStep {
  /** Child manifests to fetch (an index's children for the platforms). */
  manifests: Descriptor[];
  /** Config and layers to fetch (an image manifest's). */
  blobs: Descriptor[];
  /** Children that stay on demand. */
  skipped: Descriptor[];
}

/** How deep indexes may nest (an index of indexes is legal, and rare). */
const MAX_INDEX_DEPTH = 4;

/**
 * Layers a registry does not serve (Windows base layers: `urls` point elsewhere, and the media
 * type says so); clients fetch them from their urls.
 * https://github.com/opencontainers/image-spec/blob/main/layer.md#non-distributable-layers
 */
export function isForeignLayer(descriptor: Descriptor): boolean {
  return /foreign|nondistributable/.test(descriptor.mediaType);
}

/** What to fetch after `manifest`. No platforms given means every platform. */
export function planManifest(manifest: Manifest, platforms: readonly NormalPlatform[]): ManifestStep {
  if (manifest.kind === "index") {
    if (platforms.length === 0) return { manifests: [...manifest.manifests], blobs: [], skipped: [] };
    const { selected, skipped } = selectIndexChildren(manifest, platforms);
    return { manifests: selected, blobs: [], skipped };
  }
  const blobs: Descriptor[] = [];
  const skipped: Descriptor[] = [];
  for (const d of [manifest.config, ...manifest.layers]) (isForeignLayer(d) ? skipped : blobs).push(d);
  return { manifests: [], blobs, skipped };
}

/** The digests a manifest references, for the store's reference graph (gc). */
export function manifestReferences(manifest: Manifest): string[] {
  const own = manifest.kind === "index" ? manifest.manifests : [manifest.config, ...manifest.layers];
  return [...new Set(own.map((d) => d.digest.value))];
}

function isMissing(error: unknown): boolean {
  return (
    error instanceof OciError && (error.ociCode === "MANIFEST_UNKNOWN" || error.ociCode === "NAME_UNKNOWN")
  );
}

/**
 * Plans a pre-sync: resolves each image's tags, walks what they point at, and returns the
 * manifests and blobs to keep. A tag or repository upstream does not have is a warning; any
 * other failure rejects (the run fails and nothing is published).
 */
export async function planPresync(
  images: readonly PresyncImage[],
  platforms: readonly NormalPlatform[],
  source: ManifestSource,
  concurrency = 4,
): Promise<PresyncPlan> {
  const plan: PresyncPlan = {
    tags: [],
    manifests: [],
    blobs: [],
    skipped: [],
    references: new Map(),
    warnings: [],
  };
  const seenManifests = new Set<string>();
  const seenBlobs = new Set<string>();
  const seenSkipped = new Set<string>();

  const walk = async (
    repository: string,
    manifest: Manifest,
    contentType: string | undefined,
    depth: number,
  ) => {
    const key = manifest.digest.value;
    if (seenManifests.has(key)) return;
    seenManifests.add(key);
    plan.manifests.push({ repository, manifest, contentType });
    plan.references.set(key, manifestReferences(manifest));
    const step = planManifest(manifest, platforms);
    for (const d of step.blobs) {
      if (seenBlobs.has(d.digest.value)) continue;
      seenBlobs.add(d.digest.value);
      plan.blobs.push({ repository, descriptor: d });
    }
    for (const d of step.skipped) {
      if (seenSkipped.has(d.digest.value)) continue;
      seenSkipped.add(d.digest.value);
      plan.skipped.push({ repository, descriptor: d });
    }
    if (step.manifests.length > 0 && depth >= MAX_INDEX_DEPTH) {
      plan.warnings.push(
        `${repository}@${key}: indexes nested deeper than ${MAX_INDEX_DEPTH}; children left on demand`,
      );
      return;
    }
    for (const child of step.manifests) {
      if (seenManifests.has(child.digest.value)) continue;
      const fetched = await source.getManifest(repository, child.digest.value);
      await walk(repository, fetched.manifest, fetched.contentType, depth + 1);
    }
  };

  const resolved: { repository: string; tag: string; manifest: Manifest; contentType: string | undefined }[] =
    [];
  for (const image of images) {
    let listed: string[] = [];
    if (needsTagList(image.tags)) {
      try {
        listed = await source.listTags(image.repository);
      } catch (error) {
        if (!isMissing(error)) throw error;
        plan.warnings.push(`${image.repository}: upstream has no such repository`);
        continue;
      }
    }
    const tags = selectTags(image.tags, listed);
    if (tags.length === 0)
      plan.warnings.push(
        `${image.repository}: no upstream tag matches ${image.tags.map((t) => t.source).join(", ")}`,
      );
    const got = await mapBounded(tags, concurrency, async (tag) => {
      try {
        return await source.getManifest(image.repository, tag);
      } catch (error) {
        if (!isMissing(error)) throw error;
        plan.warnings.push(`${image.repository}:${tag}: upstream has no such tag`);
        return undefined;
      }
    });
    got.forEach((fetched, i) => {
      if (fetched)
        resolved.push({
          repository: image.repository,
          tag: tags[i] as string,
          manifest: fetched.manifest,
          contentType: fetched.contentType,
        });
    });
  }
  // Walked one tag at a time so that the order (and what is "first") does not depend on timing.
  for (const r of resolved) {
    await walk(r.repository, r.manifest, r.contentType, 0);
    plan.tags.push({
      repository: r.repository,
      tag: r.tag,
      digest: r.manifest.digest.value,
      mediaType: r.manifest.mediaType,
      platforms:
        r.manifest.kind === "index"
          ? planManifest(r.manifest, platforms).manifests.flatMap((d) =>
              d.platform && d.platform.os !== "unknown"
                ? [formatPlatform(normalizeForDisplay(d.platform))]
                : [],
            )
          : [""],
    });
  }
  return plan;
}

function normalizeForDisplay(p: { os: string; architecture: string; variant?: string }): NormalPlatform {
  return { os: p.os, architecture: p.architecture, variant: p.variant ?? "" };
}

/** Bytes the plan keeps: manifests and blobs, each counted once. */
export function planBytes(plan: Pick<PresyncPlan, "manifests" | "blobs">): number {
  let total = 0;
  for (const m of plan.manifests) total += m.manifest.size;
  for (const b of plan.blobs) total += b.descriptor.size;
  return total;
}
