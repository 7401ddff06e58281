// Downloads blobs into the store: one in-flight download per blob, however many syncs and
// clients want it. Bytes are hashed while they stream into a blob store write session;
// interrupted transfers resume with Range; the sha256 (and size) is checked before the blob
// enters the store, or, when the index gave no sha256, another digest it gave (other-hash.ts). Readers follow the download (see in-flight-download.ts).
// Every transfer is bounded: by the file's declared size (index `size`, Content-Length), by
// `max_file_size`, by `fill_timeout`; an on-demand download nobody waits for any more is
// abandoned after `abandon_grace`. Whatever stops a transfer, its write session is aborted.
import { setTimeout as sleep } from "node:timers/promises";
import {
  DigestMismatchError,
  FetchTimeoutError,
  FetchTooLargeError,
  FetchTruncatedError,
  FileSizeLimitError,
  FreshmirrorError,
  isDiskFull,
  NotAllowedHostError,
  SizeMismatchError,
  StoreWriteError,
  UpstreamStatusError,
} from "../errors.js";
import { type BlobStore, type BlobWriter, type ByteRangeSource, isSha256Hex } from "../store/blob-store.js";
import type { StateRepositories } from "../store/state-repositories.js";
import { backoffDelay } from "../upstream/backoff.js";
import type { UpstreamClient } from "../upstream/http-client.js";
import {
  type BlobRequest,
  type BlobSource,
  type FetchedBlob,
  InFlightDownload,
} from "./in-flight-download.js";
import { hashBytes } from "./other-hash.js";

export type { BlobRequest, BlobSource, FetchedBlob, InFlightDownload };

/** Checks a downloaded file before the store commits it (throws a coded error to refuse it). */
export type BlobValidator = (request: BlobRequest, bytes: ByteRangeSource) => Promise<void>;

export interface BlobFetcherOptions {
  retries: number;
  backoffMs: number;
  /** Bound on one whole download, resumes included. */
  fillTimeoutMs: number;
  /** Largest file accepted (declared or received); default unbounded. */
  maxFileSize?: number | undefined;
  /** How long an on-demand download goes on after its last client left; default 30 s. */
  abandonGraceMs?: number | undefined;
  /**
   * Checks the complete bytes before they are stored (the ecosystem's own check: a wheel must
   * be a whole zip, since without a hash nothing else would catch one cut short). Throws to refuse.
   */
  verifyContent?: BlobValidator | undefined;
}

const WRITE_BATCH_BYTES = 1 << 20;
const WRITE_BATCH_MS = 20;

export class BlobFetcher {
  readonly #store: BlobStore;
  readonly #state: Pick<StateRepositories, "blobs">;
  readonly #client: UpstreamClient;
  readonly #options: BlobFetcherOptions;
  readonly #inFlight = new Map<string, InFlightDownload>();
  /** Bytes downloaded from upstream by this fetcher. */
  bytesDownloaded = 0;

  constructor(
    store: BlobStore,
    state: Pick<StateRepositories, "blobs">,
    client: UpstreamClient,
    options: BlobFetcherOptions,
  ) {
    this.#store = store;
    this.#state = state;
    this.#client = client;
    this.#options = options;
  }

  /** The download in progress for this blob, if any. */
  inFlight(request: Pick<BlobRequest, "url" | "sha256">): InFlightDownload | undefined {
    return this.#inFlight.get(keyOf(request));
  }

  /** Every download in progress (syncs' and on-demand ones), oldest first. */
  inFlightDownloads(): InFlightDownload[] {
    return [...this.#inFlight.values()].filter((d) => d.state === "running");
  }

  /**
   * Starts (or joins) the download of a blob. With an expected sha256 already in the store,
   * resolves at once without a request.
   */
  fetch(request: BlobRequest): InFlightDownload {
    const key = keyOf(request);
    const existing = this.#inFlight.get(key);
    if (existing && !existing.abort.signal.aborted) {
      if (request.origin !== "fetch") existing.pin();
      return existing;
    }
    const download = new InFlightDownload(request, this.#store, this.#options.abandonGraceMs);
    if (request.origin !== "fetch") download.pin();
    this.#inFlight.set(key, download);
    const forget = () => {
      if (this.#inFlight.get(key) === download) this.#inFlight.delete(key);
    };
    // An abandoned download is forgotten at once: a new request starts a fresh one.
    download.abort.signal.addEventListener("abort", forget, { once: true });
    this.#run(download)
      .then(
        (blob) => download.succeed(blob),
        (error: Error) => download.fail(error),
      )
      .finally(forget);
    return download;
  }

  async #run(download: InFlightDownload): Promise<FetchedBlob> {
    const { request } = download;
    const expected = request.sha256?.toLowerCase();
    // Stored bytes are reused only under a record claimed now (BlobRepository.claim): bytes
    // without one may be a blob gc is removing, and are fetched again.
    const stored = expected && isSha256Hex(expected) ? await this.#claimStored(expected) : undefined;
    if (expected && stored !== undefined) {
      await this.#record(expected, stored, request.origin);
      return { sha256: expected, size: stored, hashSource: "index", reused: true };
    }
    const limit = this.#options.maxFileSize;
    if (limit !== undefined && request.size !== undefined && request.size > limit) {
      throw new FileSizeLimitError(request.filename, request.url, limit, request.size, true);
    }
    download.writer = await this.#store.begin(request.filename);
    download.emit("progress");
    try {
      return await this.#downloadAndCommit(download, expected);
    } catch (error) {
      // Whatever went wrong, the partial bytes go: a full disk must get its space back.
      await download.writer?.abort();
      throw error;
    }
  }

  async #downloadAndCommit(download: InFlightDownload, expected: string | undefined): Promise<FetchedBlob> {
    const { request } = download;
    const deadline = Date.now() + this.#options.fillTimeoutMs;
    let fromScratchAfterMismatch = false;
    for (;;) {
      const writer = download.writer as BlobWriter;
      const { sha256, size, resumed } = await this.#transfer(download, writer, deadline);
      if (request.size !== undefined && size !== request.size) {
        throw new SizeMismatchError(request.filename, request.size, size, request.url);
      }
      const mismatch = await this.#mismatch(request, writer, expected, sha256, size);
      if (mismatch !== undefined) {
        if (resumed && !fromScratchAfterMismatch) {
          // A resume may have stitched two different versions of the file; try once from scratch.
          fromScratchAfterMismatch = true;
          download.reset(
            `${mismatch.algorithm} mismatch after a resumed transfer; downloading again from the start`,
          );
          await writer.abort();
          download.writer = await this.#store.begin(request.filename);
          download.bytesWritten = 0;
          continue;
        }
        throw new DigestMismatchError(
          request.filename,
          mismatch.expected,
          mismatch.actual,
          request.url,
          mismatch.algorithm,
        );
      }
      const verify = this.#options.verifyContent;
      if (verify !== undefined) {
        const written = await writer.openWritten();
        try {
          await verify(request, written);
        } finally {
          await written.close();
        }
      }
      // Verified: readers may send the last bytes now, while the blob is made durable and visible.
      download.verifiedSize = size;
      download.emit("progress");
      await writer.commit(sha256);
      await this.#record(sha256, size, request.origin);
      return { sha256, size, hashSource: expected ? "index" : "computed", reused: false };
    }
  }

  /**
   * How the written bytes differ from what the index said: its sha256, or (without one) another
   * digest it gave, read back from the written bytes. Undefined when they match or nothing was given.
   */
  async #mismatch(
    request: BlobRequest,
    writer: BlobWriter,
    expected: string | undefined,
    sha256: string,
    size: number,
  ): Promise<{ algorithm: string; expected: string; actual: string } | undefined> {
    if (expected !== undefined)
      return sha256 === expected ? undefined : { algorithm: "sha256", expected, actual: sha256 };
    const other = request.otherHash;
    if (other === undefined) return undefined;
    const written = await writer.openWritten();
    try {
      const actual = await hashBytes(written, size, other.name);
      return actual === other.hex ? undefined : { algorithm: other.name, expected: other.hex, actual };
    } finally {
      await written.close();
    }
  }

  /** The size of a stored blob whose record this fetch could claim, else undefined. */
  async #claimStored(sha256: string): Promise<number | undefined> {
    let recorded: boolean;
    try {
      recorded = (await this.#state.blobs.claim([sha256], Date.now())).has(sha256);
    } catch (error) {
      // A full disk cannot take the access time; the record can still be read.
      if (!isDiskFull(error)) throw error;
      recorded = (await this.#state.blobs.get(sha256)) !== undefined;
    }
    return recorded ? this.#store.stat(sha256) : undefined;
  }

  /**
   * Records a stored blob in the state. The bytes are in the store either way: when the disk
   * filled up since (clients may already hold every byte, and fill it), they are still served, and
   * the row is written by a later fetch of the blob once there is room.
   */
  async #record(sha256: string, size: number, origin: string): Promise<void> {
    try {
      await this.#state.blobs.record(sha256, size, origin, Date.now());
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  /** Streams the URL into the write session, resuming with Range after failures. */
  async #transfer(
    download: InFlightDownload,
    writer: BlobWriter,
    deadline: number,
  ): Promise<{ sha256: string; size: number; resumed: boolean }> {
    const { request } = download;
    let written = writer.size;
    let resumed = false;
    let validator: string | undefined;
    const { signal } = download.abort;
    const maxFileSize = this.#options.maxFileSize ?? Number.POSITIVE_INFINITY;
    const timedOut = () => new FetchTimeoutError(request.filename);
    for (let attempt = 0; ; attempt++) {
      try {
        if (signal.aborted) throw signal.reason;
        if (Date.now() > deadline) throw timedOut();
        const headers: Record<string, string> = { "accept-encoding": "identity" };
        if (written > 0) {
          headers.range = `bytes=${written}-`;
          if (validator) headers["if-range"] = validator;
        }
        const response = request.source
          ? await request.source(headers, signal)
          : await this.#client.send("GET", request.url, headers, { signal });
        if (
          written > 0 &&
          response.status === 206 &&
          contentRangeStart(response.headers["content-range"]) === written
        ) {
          resumed = true;
        } else if (response.status === 200) {
          if (written > 0) {
            // The server ignored the range: start over.
            download.reset("upstream ignored the resume range; downloading again from the start");
            await writer.restart();
            written = 0;
            download.bytesWritten = 0;
          }
        } else {
          await response.body.dump();
          throw new UpstreamStatusError(request.url, response.status);
        }
        download.responded = true;
        const etag = first(response.headers.etag);
        if (etag && !etag.startsWith("W/")) validator = etag;
        const length = Number(first(response.headers["content-length"]));
        if (response.status === 200 && Number.isFinite(length) && download.expectedSize === undefined) {
          download.expectedSize = length;
        }
        // The bound on this transfer: the declared size (index first, else Content-Length, which
        // for a 206 counts from the resume point), and max_file_size. Passing either stops it.
        const announced =
          Number.isFinite(length) && (response.status === 200 || response.status === 206)
            ? (response.status === 206 ? written : 0) + length
            : undefined;
        if (announced !== undefined && announced > maxFileSize) {
          response.body.destroy();
          throw new FileSizeLimitError(request.filename, request.url, maxFileSize, announced, true);
        }
        const declared = request.size ?? announced;
        const declaredBy = request.size !== undefined ? "the index" : "Content-Length";
        download.emit("progress");
        let bodyBytes = 0;
        const cutOff = (cause?: unknown) =>
          new FetchTruncatedError(
            `download of ${request.filename} cut off: upstream closed ${request.url} after ${bodyBytes}${Number.isFinite(length) ? ` of ${length}` : ""} bytes${cause instanceof Error ? ` (${cause.message})` : ""}`,
            cause,
          );
        // Chunks are gathered and written with one writev per MiB (or per 20 ms), hashed and
        // announced to readers per write: far fewer syscalls and wake-ups than per 64 KiB chunk.
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        let lastFlush = Date.now();
        const flush = async () => {
          if (pendingBytes === 0) return;
          const buffers = pending;
          const size = pendingBytes;
          pending = [];
          pendingBytes = 0;
          lastFlush = Date.now();
          // ENOSPC, EFBIG, EIO... come as StoreWriteError: retrying upstream won't help.
          await writer.write(buffers);
          written += size;
          bodyBytes += size;
          this.bytesDownloaded += size;
          download.bytesWritten = written;
          download.emit("progress");
        };
        try {
          for await (const chunk of response.body) {
            const received = written + pendingBytes + (chunk as Buffer).length;
            if (received > maxFileSize) {
              response.body.destroy();
              throw new FileSizeLimitError(request.filename, request.url, maxFileSize, received, false);
            }
            if (declared !== undefined && received > declared) {
              response.body.destroy();
              throw new FetchTooLargeError(request.filename, request.url, declared, received, declaredBy);
            }
            if (Date.now() > deadline) {
              response.body.destroy();
              throw timedOut();
            }
            pending.push(chunk as Buffer);
            pendingBytes += (chunk as Buffer).length;
            // The first chunk goes out at once: waiting clients get their first bytes without delay.
            const due = pendingBytes >= WRITE_BATCH_BYTES || Date.now() - lastFlush >= WRITE_BATCH_MS;
            if (written === 0 || due) await flush();
          }
          await flush();
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          // Keep what did arrive, so a resume starts after it.
          if (!(error instanceof FreshmirrorError)) await flush();
          // A socket closed mid-body surfaces as undici's bare "other side closed": say which file.
          throw error instanceof FreshmirrorError ? error : cutOff(error);
        }
        if (Number.isFinite(length) && bodyBytes !== length) throw cutOff();
        return { sha256: writer.digest(), size: written, resumed };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof StoreWriteError) throw error;
        const errno = (error as NodeJS.ErrnoException).code;
        if (errno === "ENOSPC" || errno === "EDQUOT" || errno === "EROFS" || errno === "EIO") {
          throw new StoreWriteError(`the download of ${request.filename}`, error);
        }
        const permanent =
          (error instanceof UpstreamStatusError &&
            error.upstreamStatus !== 429 &&
            error.upstreamStatus < 500) ||
          // A kind's own source refusing with a client error (not found, denied, bad range).
          (request.source !== undefined &&
            error instanceof FreshmirrorError &&
            error.status >= 400 &&
            error.status < 500 &&
            error.status !== 408 &&
            error.status !== 429);
        // Retrying cannot help these: the same limit or host check would refuse again.
        if (
          permanent ||
          error instanceof FetchTimeoutError ||
          error instanceof FetchTooLargeError ||
          error instanceof FileSizeLimitError ||
          error instanceof NotAllowedHostError ||
          attempt >= this.#options.retries
        ) {
          throw error;
        }
        // The wait ends early when the download is aborted (the signal's reason is thrown below).
        await sleep(backoffDelay(attempt, { baseMs: this.#options.backoffMs }), undefined, {
          signal,
        }).catch(() => undefined);
        if (signal.aborted) throw signal.reason;
      }
    }
  }
}

function keyOf(request: Pick<BlobRequest, "url" | "sha256">): string {
  return request.sha256 ? `sha256:${request.sha256.toLowerCase()}` : `url:${request.url}`;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function contentRangeStart(value: string | string[] | undefined): number | undefined {
  const match = /^bytes (\d+)-/.exec(first(value) ?? "");
  return match ? Number(match[1]) : undefined;
}
