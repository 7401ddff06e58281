// Manifests fetched on demand and kept as the upstream's raw bytes (their digest is the hash of
// exactly those bytes), in the shared blob store under their sha256, with a row per repository
// and the digests they reference (for garbage collection across kinds).
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
// - By digest: kept for good; checked against the digest before it is kept.
// - By tag: served from the cache within `tag_ttl`; after that revalidated with a HEAD (Docker
//   Hub does not count HEADs against its pull limit), and fetched again only when the tag moved.
//   Tags matching `immutable_tags` are never revalidated. When upstream is down or rate limits,
//   a known tag is served stale (with a Warning header); with nothing cached a 429 is answered as
//   TOOMANYREQUESTS with Retry-After, never as an error that sends Docker around the mirror.
import { createHash } from "node:crypto";
import { FreshmirrorError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { BlobStore } from "../store/blob-store.js";
import type { BlobRepository, ManifestRepository, ManifestRow } from "../store/state-repositories.js";
import type { OciMirrorConfig } from "./config-schema.js";
import { referencedDescriptors } from "./manifest.js";
import { baseMediaType, isManifestMediaType } from "./media-types.js";
import type { ManifestReference as Reference } from "./reference.js";
import type { FetchedManifest, RegistryClient } from "./registry-client.js";
import { OciError } from "./registry-errors.js";

/** Seconds a client is asked to wait after upstream rate-limited us and none was given. */
export const DEFAULT_RETRY_AFTER_SECONDS = 60;

export interface ServedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** HIT: from the cache; MISS: fetched from upstream now. */
  cache: "HIT" | "MISS";
  /** Set when served from the cache because upstream could not be asked (a Warning header). */
  stale: boolean;
}

export interface ManifestPullThroughDeps {
  blobs: BlobStore;
  manifests: ManifestRepository;
  blobRecords: BlobRepository;
  now?: () => number;
  /** Counts an upstream failure met while serving (metrics, status). */
  onUpstreamFailure?: (mirror: string, error: unknown) => void;
  /** Where a failed best-effort write (a manifest's last use) is reported. */
  logger: Logger;
}

/** Whether upstream could not answer (rather than answering "no"): a cached copy may stand in. */
export function isUpstreamUnavailable(error: unknown): boolean {
  if (error instanceof OciError) return error.ociCode === "TOOMANYREQUESTS" || error.status >= 500;
  if (error instanceof FreshmirrorError) return error.status >= 500;
  return true;
}

export class ManifestPullThrough {
  readonly #deps: ManifestPullThroughDeps;
  readonly #now: () => number;
  /** One upstream fetch per (mirror, repository, reference) at a time. */
  readonly #inFlight = new Map<string, Promise<ServedManifest>>();

  constructor(deps: ManifestPullThroughDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** The manifest for a tag or digest of `repository` (as upstream names it). */
  async get(
    mirror: OciMirrorConfig,
    client: RegistryClient,
    repository: string,
    reference: Reference,
  ): Promise<ServedManifest> {
    if (reference.kind === "digest") {
      if (reference.digest.algorithm !== "sha256")
        throw new OciError(
          "MANIFEST_UNKNOWN",
          `only sha256 manifests are mirrored, not ${reference.digest.value}`,
        );
      const cached = await this.#cached(mirror.name, repository, reference.digest.value);
      if (cached) return cached;
      return this.#single(`${mirror.name} ${repository} ${reference.digest.value}`, () =>
        this.fetch(mirror, client, repository, reference.digest.value),
      );
    }
    return this.#byTag(mirror, client, repository, reference.tag);
  }

  async #byTag(
    mirror: OciMirrorConfig,
    client: RegistryClient,
    repository: string,
    tag: string,
  ): Promise<ServedManifest> {
    const { manifests } = this.#deps;
    const known = await manifests.tag(mirror.name, repository, tag);
    const cached = known && (await this.#cached(mirror.name, repository, known.digest));
    if (known && cached) {
      const fresh = this.#now() - known.checkedAt < mirror.tagTtlMs;
      if (fresh || mirror.immutableTags.some((re) => re.test(tag))) return cached;
      let head: Awaited<ReturnType<RegistryClient["headManifest"]>>;
      try {
        head = await client.headManifest(repository, tag);
      } catch (error) {
        if (!isUpstreamUnavailable(error)) throw error;
        this.#deps.onUpstreamFailure?.(mirror.name, error);
        return { ...cached, stale: true };
      }
      if (head.digest === known.digest) {
        await manifests.touchTag(mirror.name, repository, tag, this.#now());
        return cached;
      }
    }
    try {
      return await this.#single(`${mirror.name} ${repository} :${tag}`, () =>
        this.fetch(mirror, client, repository, tag, tag),
      );
    } catch (error) {
      if (cached && isUpstreamUnavailable(error)) {
        this.#deps.onUpstreamFailure?.(mirror.name, error);
        return { ...cached, stale: true };
      }
      throw error;
    }
  }

  /** The manifest kept for this repository, when its bytes are still in the store. */
  async #cached(mirror: string, repository: string, digest: string): Promise<ServedManifest | undefined> {
    const row = await this.#deps.manifests.manifest(mirror, repository, digest);
    if (!row) return undefined;
    const bytes = await this.#readBytes(row);
    if (!bytes) return undefined;
    // Best effort and off the response's path: a use only orders eviction.
    this.#deps.manifests
      .touchManifest(mirror, repository, digest, this.#now())
      .catch((error: unknown) => this.#deps.logger.warn({ err: error }, `${mirror}: manifest touch failed`));
    return { digest, mediaType: row.mediaType, bytes, cache: "HIT", stale: false };
  }

  async #readBytes(row: ManifestRow): Promise<Buffer | undefined> {
    const hex = row.digest.slice("sha256:".length);
    if ((await this.#deps.blobs.stat(hex)) !== row.size) return undefined;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of await this.#deps.blobs.read(hex)) chunks.push(chunk as Buffer);
    } catch {
      return undefined;
    }
    const bytes = Buffer.concat(chunks);
    // The store verified the bytes when they went in; a changed file on disk is not served.
    return createHash("sha256").update(bytes).digest("hex") === hex ? bytes : undefined;
  }

  #single(key: string, work: () => Promise<ServedManifest>): Promise<ServedManifest> {
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    const promise = work().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }

  /**
   * Fetches a manifest from upstream (by tag or digest), checks it against its digest and keeps
   * it with its references; with `tag`, the tag now names it. For the pre-sync too.
   */
  async fetch(
    mirror: OciMirrorConfig,
    client: RegistryClient,
    repository: string,
    ref: string,
    tag?: string,
  ): Promise<ServedManifest> {
    let fetched: FetchedManifest;
    try {
      fetched = await client.getManifest(repository, ref);
    } catch (error) {
      if (
        error instanceof OciError &&
        error.ociCode === "TOOMANYREQUESTS" &&
        error.retryAfterSeconds === undefined
      )
        throw new OciError("TOOMANYREQUESTS", error.message, {
          retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS,
        });
      throw error;
    }
    return this.#keep(mirror, repository, fetched, tag);
  }

  /** Stores verified bytes (the client checked them against the digest) and their rows. */
  async #keep(
    mirror: OciMirrorConfig,
    repository: string,
    fetched: FetchedManifest,
    tag: string | undefined,
  ): Promise<ServedManifest> {
    const { manifest, raw } = fetched;
    if (manifest.digest.algorithm !== "sha256")
      throw new OciError(
        "MANIFEST_UNKNOWN",
        `only sha256 manifests are mirrored, not ${manifest.digest.value}`,
      );
    const contentType = fetched.contentType && baseMediaType(fetched.contentType);
    const mediaType = contentType && isManifestMediaType(contentType) ? contentType : manifest.mediaType;
    const hex = await this.#deps.blobs.putBuffer(raw, `manifest-${manifest.digest.hex.slice(0, 12)}`);
    if (hex !== manifest.digest.hex)
      throw new OciError("DIGEST_INVALID", `manifest bytes stored as ${hex}, not ${manifest.digest.hex}`, {
        status: 502,
      });
    const now = this.#now();
    await this.#deps.blobRecords.record(hex, raw.length, "fetch", now);
    await this.#deps.manifests.putManifest(
      {
        mirror: mirror.name,
        repository,
        digest: manifest.digest.value,
        mediaType,
        size: raw.length,
        fetchedAt: now,
        lastUsedAt: now,
      },
      referencedDescriptors(manifest).map((d) => ({
        digest: d.digest.value,
        mediaType: d.mediaType,
        size: d.size,
      })),
    );
    if (tag !== undefined)
      await this.#deps.manifests.putTag({
        mirror: mirror.name,
        repository,
        tag,
        digest: manifest.digest.value,
        mediaType,
        checkedAt: now,
      });
    return { digest: manifest.digest.value, mediaType, bytes: raw, cache: "MISS", stale: false };
  }
}
