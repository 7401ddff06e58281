// Blobs (layers, configs) served from the shared store, or fetched on demand through the mirror's
// single-flight BlobFetcher: one upstream download per digest however many clients ask, streamed
// to each while it arrives (Range included), verified by sha256 and size before it is kept; a
// mismatch cuts every client off and keeps nothing.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-blobs
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlobMissingError, FreshmirrorError } from "../errors.js";
import { sendFile } from "../http/file-response.js";
import type { FileResponseLimiter } from "../http/file-response-limiter.js";
import type { RouteResult } from "../http/route-handler.js";
import type { Logger } from "../logging/logger.js";
import type { BlobStore } from "../store/blob-store.js";
import type {
  BlobRepository,
  ManifestRepository,
  ProxyCacheRepository,
} from "../store/state-repositories.js";
import type { BlobFetcher, BlobSource } from "../sync/blob-fetcher.js";
import { evictFetchedBlobs } from "../sync/cache-eviction.js";
import type { StreamResponse } from "../upstream/http-client.js";
import type { OciMirrorConfig } from "./config-schema.js";
import type { Digest } from "./reference.js";
import type { RegistryClient } from "./registry-client.js";
import { OciError } from "./registry-errors.js";

export interface BlobPullThroughDeps {
  blobs: BlobStore;
  blobRecords: BlobRepository;
  proxyCache: ProxyCacheRepository;
  /** `max_cache_size`: what was fetched on demand is kept within it (least recently used go). */
  maxCacheSize: number | undefined;
  manifests: ManifestRepository;
  limiter: FileResponseLimiter;
  sendTimeoutMs: number;
  logger: Logger;
}

export interface OciMirrorParts {
  config: OciMirrorConfig;
  client: RegistryClient;
  fetcher: BlobFetcher;
}

/** A BlobSource reading a blob through the registry client (token auth, CDN redirects). */
export function registryBlobSource(client: RegistryClient, repository: string, digest: string): BlobSource {
  return async (headers, signal): Promise<StreamResponse> => {
    const match = /^bytes=(\d+)-$/.exec(headers.range ?? "");
    const blob = await client.getBlob(repository, digest, {
      signal,
      ...(match ? { range: { start: Number(match[1]) } } : {}),
    });
    const out: Record<string, string> = {};
    if (blob.contentLength !== undefined) out["content-length"] = String(blob.contentLength);
    if (blob.contentRange !== undefined) out["content-range"] = blob.contentRange;
    return {
      status: blob.status,
      url: blob.servedFrom,
      headers: out,
      body: blob.body,
    };
  };
}

export async function sendBlob(
  deps: BlobPullThroughDeps,
  req: IncomingMessage,
  res: ServerResponse,
  mirror: OciMirrorParts,
  repository: string,
  digest: Digest,
): Promise<RouteResult & { cache: "HIT" | "MISS" | "COALESCED" }> {
  if (digest.algorithm !== "sha256")
    throw new OciError("BLOB_UNKNOWN", `only sha256 blobs are mirrored, not ${digest.value}`);
  const headers = { "Docker-Content-Digest": digest.value };
  const stored = await deps.blobs.stat(digest.hex);
  if (stored !== undefined) {
    if (req.method === "GET") deps.limiter.acquire(res);
    const row = await deps.blobRecords.get(digest.hex);
    // Best effort and off the response's path: an access time only orders eviction.
    if (req.method === "GET")
      deps.blobRecords
        .touch(digest.hex, Date.now())
        .catch((error: unknown) =>
          deps.logger.warn({ err: error }, `${mirror.config.name}: blob touch failed`),
        );
    const result = await sendFile(
      req,
      res,
      {
        size: stored,
        sha256: digest.hex,
        lastModified: new Date(row?.createdAt ?? 0),
        contentType: "application/octet-stream",
        extraHeaders: { ...headers, "X-Cache": "HIT" },
      },
      {
        open: async () => {
          const handle = await deps.blobs.open(digest.hex);
          if (handle === undefined) throw new BlobMissingError(digest.hex);
          return handle;
        },
      },
      { sendTimeoutMs: deps.sendTimeoutMs, sendBuffers: deps.limiter.sendBuffers },
    );
    return { route: "oci_blob", cache: "HIT", ...result };
  }
  const { config, client, fetcher } = mirror;
  const url = `${config.upstream}/v2/${repository}/blobs/${digest.value}`;
  const known = await deps.manifests.referenced(digest.value);
  const joining = fetcher.inFlight({ url, sha256: digest.hex });
  const cache = joining && !joining.abort.signal.aborted ? "COALESCED" : "MISS";
  if (req.method === "GET") deps.limiter.acquire(res);
  const download = fetcher.fetch({
    url,
    filename: `${repository.replaceAll("/", "_")}@${digest.hex.slice(0, 16)}`,
    sha256: digest.hex,
    size: known?.size,
    origin: "fetch",
    source: registryBlobSource(client, repository, digest.value),
  });
  if (cache === "MISS") {
    // Once per download: clients that already have headers only see a broken transfer, so the
    // reason (digest, size, upstream) goes to the server log. A kept blob may push the cache
    // past max_cache_size.
    download.done
      .then(
        () => evictFetchedBlobs(deps, deps.maxCacheSize),
        (error: unknown) => {
          const code = error instanceof FreshmirrorError ? `${error.code} ` : "";
          deps.logger.warn(
            { mirror: config.name, err: error },
            `${config.name}: ${code}${(error as Error).message ?? String(error)}`,
          );
        },
      )
      .catch((error: unknown) => deps.logger.warn({ err: error }, `${config.name}: cache eviction failed`));
  }
  const release = download.attachClient();
  res.once("close", release);
  // Headers wait until upstream has answered with the bytes, so a failure before that (not
  // found, denied, rate limited) is still a clean spec error.
  while (!download.responded && download.state === "running") await download.nextChange();
  if (download.state === "failed") throw download.error;
  const result = await sendFile(
    req,
    res,
    {
      size: known?.size ?? download.expectedSize ?? download.result?.size,
      sha256: digest.hex,
      lastModified: new Date(),
      contentType: "application/octet-stream",
      extraHeaders: { ...headers, "X-Cache": cache },
    },
    (range) => download.createReader(range.start, Number.isFinite(range.end) ? range.end : undefined),
    { sendTimeoutMs: deps.sendTimeoutMs },
  );
  return { route: "oci_blob", cache, ...result };
}
