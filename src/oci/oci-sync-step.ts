// The sync step of an OCI mirror: the pre-sync of `images:` (presync-step.ts), wired to the
// mirror's registry client and single-flight blob fetcher. A mirror without `images:` is a
// pull-through cache only, and a sync of it publishes nothing.
import type { EventBus } from "../events/event-bus.js";
import type { BlobStore } from "../store/blob-store.js";
import type { StateRepositories } from "../store/state-repositories.js";
import type { BlobFetcher } from "../sync/blob-fetcher.js";
import type { SyncStep } from "../sync/sync-step.js";
import { redactUrl } from "../upstream/redact-url.js";
import { registryBlobSource } from "./blob-pull-through.js";
import type { OciMirrorConfig, TagSelector } from "./config-schema.js";
import { type NormalPlatform, parsePlatform } from "./platform.js";
import { type PresyncMirror, presyncStep } from "./presync-step.js";
import type { RegistryClient } from "./registry-client.js";
import type { TagPattern } from "./tag-pattern.js";

export interface OciSyncDeps {
  readonly config: OciMirrorConfig;
  readonly client: RegistryClient;
  readonly fetcher: BlobFetcher;
  readonly state: StateRepositories;
  readonly blobs: BlobStore;
  readonly events: EventBus;
}

function tagPatternOf(selector: TagSelector): TagPattern {
  return selector.kind === "exact"
    ? { kind: "exact", tag: selector.tag, source: selector.tag }
    : { kind: "regex", regex: selector.pattern, source: selector.source };
}

/** The config as the pre-sync and the watch probe read it. */
export function presyncMirrorOf(config: OciMirrorConfig): PresyncMirror {
  return {
    name: config.name,
    upstream: config.upstream.replace(/\/+$/, ""),
    images: Object.fromEntries(
      Object.entries(config.images).map(([repository, tags]) => [repository, tags.map(tagPatternOf)]),
    ),
    platforms: (config.platforms ?? [])
      .map((p) => parsePlatform(p))
      .filter((p): p is NormalPlatform => p !== undefined),
    concurrency: config.concurrency,
  };
}

export function ociSyncStep(deps: OciSyncDeps): SyncStep {
  const { config, client, fetcher, state } = deps;
  return presyncStep({
    mirror: presyncMirrorOf(config),
    source: {
      listTags: (repository) => client.listAllTags(repository),
      async getManifest(repository, reference) {
        const fetched = await client.getManifest(repository, reference);
        return fetched.contentType === undefined
          ? { manifest: fetched.manifest }
          : { manifest: fetched.manifest, contentType: fetched.contentType };
      },
    },
    async fetchBlob(repository, digest, size, onBytes) {
      const download = fetcher.fetch({
        url: `${redactUrl(config.upstream)}/v2/${repository}/blobs/${digest.value}`,
        source: registryBlobSource(client, repository, digest.value),
        filename: digest.value,
        sha256: digest.hex,
        size,
        origin: "sync",
      });
      let last = 0;
      const progress = () => {
        onBytes(download.bytesWritten - last);
        last = download.bytesWritten;
      };
      download.on("progress", progress);
      return download.done.finally(() => download.off("progress", progress));
    },
    blobs: deps.blobs,
    records: state.blobs,
    snapshots: state.snapshots,
    manifests: state.manifests,
    emit: (event) => deps.events.emit(event),
    describe: () => `registry ${config.registry} at ${redactUrl(config.upstream)}`,
  });
}
