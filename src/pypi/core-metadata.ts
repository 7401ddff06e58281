// PEP 658 core metadata for a wheel a sync fetched: upstream's `.metadata` file when it offers
// one (verified against its hash), else the METADATA extracted from the wheel in the store.

import { describeError, StoreWriteError } from "../errors.js";
import type { BlobStore } from "../store/blob-store.js";
import { withBlob } from "../store/blob-store.js";
import type { FileRecord, StateRepositories } from "../store/state-repositories.js";
import type { BlobFetcher, FetchedBlob } from "../sync/blob-fetcher.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { parseDistributionFilename } from "./distribution-filename.js";
import type { WantedFile } from "./sync-plan.js";
import { extractWheelMetadata } from "./wheel-metadata.js";

export interface CoreMetadataDeps {
  readonly config: PypiMirrorConfig;
  readonly fetcher: BlobFetcher;
  readonly state: StateRepositories;
  readonly blobs: BlobStore;
}

/**
 * PEP 658: upstream's `.metadata` file when it offers one (verified against its hash), else the
 * METADATA extracted from the wheel in the store. Failing both leaves the file without metadata.
 */
export async function takeCoreMetadata(
  mirror: CoreMetadataDeps,
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
    const content = await withBlob(mirror.blobs, blob.sha256, (bytes) =>
      extractWheelMetadata(bytes, { filename: file.filename }),
    );
    const sha256 = await mirror.blobs.putBuffer(content, `${file.filename}.metadata`);
    await mirror.state.blobs.record(sha256, content.length, "metadata", Date.now());
    return { metadataSha256: sha256, metadataSize: content.length, metadataSource: "extracted" };
  } catch (error) {
    if (error instanceof StoreWriteError) throw error;
    warn(`no core metadata for ${file.filename}: ${describeError(error)}`);
    return none;
  }
}
