// Downloads blobs into the store: one in-flight download per blob, however many syncs and
// clients want it. Bytes are hashed while they stream into a temp file; interrupted transfers
// resume with Range; the sha256 (and size) is checked before the blob enters the store. Readers
// follow the growing temp file at their own pace; when a download fails they are destroyed with
// the error, never ended cleanly, so no client mistakes a short body for a complete one.
// Every transfer is bounded: by the file's declared size (index `size`, Content-Length), by
// `max_file_size`, by `fill_timeout`; an on-demand download nobody waits for any more is
// abandoned after `abandon_grace`. Whatever stops a transfer, its temp file is deleted.
import { createHash, type Hash } from "node:crypto";
import { EventEmitter } from "node:events";
import { open, unlink } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DigestMismatchError,
  FetchAbandonedError,
  FetchRestartedError,
  FetchTimeoutError,
  FetchTooLargeError,
  FetchTruncatedError,
  FileSizeLimitError,
  FreshmirrorError,
  InternalError,
  NotAllowedHostError,
  SizeMismatchError,
  StoreWriteError,
  UpstreamStatusError,
} from "../errors.js";
import type { BlobStore } from "../store/blob-store.js";
import type { StateStore } from "../store/state-store.js";
import { backoffDelay } from "../upstream/backoff.js";
import type { UpstreamClient } from "../upstream/http-client.js";

export interface BlobRequest {
  url: string;
  /** For messages and temp file names. */
  filename: string;
  /** Expected sha256 (hex); without it the computed digest is accepted and flagged. */
  sha256?: string | undefined;
  size?: number | undefined;
  /** "sync" or "fetch" (on demand): recorded with the blob for cache eviction. */
  origin: string;
}

export type BlobValidator = (request: BlobRequest, tempFile: string) => Promise<void>;

export interface FetchedBlob {
  sha256: string;
  size: number;
  hashSource: "index" | "computed";
  /** True when the blob was already in the store and nothing was downloaded. */
  reused: boolean;
}

export interface BlobFetcherOptions {
  retries: number;
  backoffMs: number;
  /** Bound on one whole download, resumes included. */
  fillTimeoutMs: number;
  /**
   * The mirror kind's validation of a downloaded file before it is committed (throws a coded
   * error to refuse it). Takes the temp file's path for now; becomes a read-range function when
   * the blob store keeps its paths to itself.
   */
  validate?: BlobValidator | undefined;
  /** Largest file accepted (declared or received); default unbounded. */
  maxFileSize?: number | undefined;
  /** How long an on-demand download goes on after its last client left; default 30 s. */
  abandonGraceMs?: number | undefined;
}

const DEFAULT_ABANDON_GRACE_MS = 30_000;

const READ_CHUNK = 256 * 1024;
const WRITE_BATCH_BYTES = 1 << 20;
const WRITE_BATCH_MS = 20;

/** One download in progress; emits "progress" after each write, "done" or "failed" once. */
export class InFlightDownload extends EventEmitter {
  readonly request: BlobRequest;
  tempPath = "";
  bytesWritten = 0;
  /** Total size when known (index or Content-Length). */
  expectedSize: number | undefined;
  state: "running" | "done" | "failed" = "running";
  /** Set once the bytes matched the expected digest (before they are fsynced into the store). */
  verifiedSize: number | undefined;
  /** Upstream has answered with the file's bytes (200/206); until then a failure can still be a clean error. */
  responded = false;
  result: FetchedBlob | undefined;
  error: Error | undefined;
  /** Resolves when the blob is in the store; rejects with what went wrong. */
  readonly done: Promise<FetchedBlob>;
  #resolve!: (blob: FetchedBlob) => void;
  #reject!: (error: Error) => void;
  readonly #store: BlobStore;
  /** Aborted when the download is abandoned: the upstream request and its body are cut off. */
  readonly abort = new AbortController();
  readonly #abandonGraceMs: number;
  /** Clients streaming (or about to stream) this download. */
  #clients = 0;
  /** Someone other than a streaming client waits for it (a sync): never abandoned. */
  #pinned = false;
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(request: BlobRequest, store: BlobStore, abandonGraceMs = DEFAULT_ABANDON_GRACE_MS) {
    super();
    this.setMaxListeners(0);
    this.request = request;
    this.expectedSize = request.size;
    this.#store = store;
    this.#abandonGraceMs = abandonGraceMs;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The promise is observed through events too; an unobserved rejection is not a crash.
    this.done.catch(() => undefined);
  }

  succeed(blob: FetchedBlob): void {
    this.#clearGrace();
    this.state = "done";
    this.result = blob;
    this.#resolve(blob);
    this.emit("done", blob);
  }

  fail(error: Error): void {
    this.#clearGrace();
    this.state = "failed";
    this.error = error;
    this.#reject(error);
    this.emit("failed", error);
  }

  /** Never abandon this download (a sync, or another non-streaming waiter, needs it). */
  pin(): void {
    this.#pinned = true;
    this.#clearGrace();
  }

  /**
   * Registers a client of an on-demand download; call the returned function (once is enough)
   * when it leaves. When the last client leaves, the download goes on for `abandon_grace` (a
   * client that comes back joins it), then is abandoned: its upstream transfer is aborted and
   * its temp file deleted, so a client that left does not cost disk and bandwidth forever.
   */
  attachClient(): () => void {
    this.#clients++;
    this.#clearGrace();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#clients--;
      if (this.#clients > 0 || this.#pinned || this.state !== "running") return;
      this.#graceTimer = setTimeout(
        () => {
          this.#graceTimer = undefined;
          if (this.#clients === 0 && !this.#pinned && this.state === "running") {
            this.abort.abort(new FetchAbandonedError(this.request.filename, this.#abandonGraceMs));
          }
        },
        Math.min(this.#abandonGraceMs, 2 ** 31 - 1),
      );
      this.#graceTimer.unref();
    };
  }

  #clearGrace(): void {
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  /**
   * A stream of bytes [start, end] (inclusive; end defaults to the last byte) that follows the
   * download as it grows. It errors when the download fails.
   */
  createReader(start = 0, end?: number): Readable {
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    let position = start;
    let waiting: (() => void) | undefined;
    const wake = () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    };
    const onFailed = (error: Error) => {
      stream.destroy(error);
    };
    this.on("progress", wake);
    this.on("done", wake);
    this.once("failed", onFailed);
    this.once("reset", onFailed);
    const download = this;
    const lastByte = () =>
      end !== undefined ? end : (download.result?.size ?? download.expectedSize ?? Infinity) - 1;
    const stream = new Readable({
      highWaterMark: READ_CHUNK,
      async read() {
        try {
          if (handle === undefined) handle = await download.#openForRead();
          for (;;) {
            if (download.state === "failed") return;
            const limit = lastByte();
            if (position > limit) {
              this.push(null);
              return;
            }
            // Until the download is verified, the span's last byte is held back: a client must never
            // hold every byte of a response whose content may yet prove wrong.
            const verified = download.state === "done" || download.verifiedSize !== undefined;
            const readable = verified
              ? (download.result?.size ?? download.verifiedSize ?? 0)
              : Math.min(download.bytesWritten, limit);
            const available = readable - position;
            if (available > 0) {
              const length = Math.min(READ_CHUNK, available, limit - position + 1);
              const buffer = Buffer.allocUnsafe(length);
              const { bytesRead } = await handle.read(buffer, 0, length, position);
              if (bytesRead === 0) throw new Error(`read past the end of ${download.request.filename}`);
              position += bytesRead;
              this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
              return;
            }
            if (download.state === "done") {
              this.push(null);
              return;
            }
            await new Promise<void>((resolve) => {
              waiting = resolve;
            });
          }
        } catch (error) {
          this.destroy(error as Error);
        }
      },
      destroy(error, callback) {
        download.off("progress", wake);
        download.off("done", wake);
        download.off("failed", onFailed);
        download.off("reset", onFailed);
        wake();
        const h = handle;
        handle = undefined;
        if (h)
          h.close().then(
            () => callback(error),
            () => callback(error),
          );
        else callback(error);
      },
    });
    if (this.state === "failed") process.nextTick(() => stream.destroy(this.error));
    return stream;
  }

  /** Opens the bytes for reading: the temp file while downloading, the blob once stored. */
  async #openForRead() {
    for (;;) {
      if (this.state === "done") return await open(this.#store.pathFor(this.result?.sha256 ?? ""), "r");
      if (this.state === "failed")
        throw (
          this.error ??
          new InternalError(`download of ${this.request.filename} failed without a recorded error`)
        );
      if (this.tempPath !== "") {
        try {
          return await open(this.tempPath, "r");
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
      }
      // Not started yet, or renamed into the store a moment ago: the next event tells.
      await this.nextChange();
    }
  }

  /** Resolves at the next progress, completion or failure of this download. */
  nextChange(): Promise<void> {
    return new Promise<void>((resolve) => {
      const settle = () => {
        this.off("progress", settle);
        this.off("done", settle);
        this.off("failed", settle);
        resolve();
      };
      this.on("progress", settle);
      this.on("done", settle);
      this.on("failed", settle);
    });
  }

  /** Bytes already given to readers are no longer valid (the transfer starts over): cut them off. */
  reset(reason: string): void {
    this.emit("reset", new FetchRestartedError(this.request.filename, reason));
  }
}

export class BlobFetcher {
  readonly #store: BlobStore;
  readonly #state: StateStore;
  readonly #client: UpstreamClient;
  readonly #options: BlobFetcherOptions;
  readonly #inFlight = new Map<string, InFlightDownload>();
  /** Bytes downloaded from upstream by this fetcher. */
  bytesDownloaded = 0;

  constructor(store: BlobStore, state: StateStore, client: UpstreamClient, options: BlobFetcherOptions) {
    this.#store = store;
    this.#state = state;
    this.#client = client;
    this.#options = options;
  }

  /** The download in progress for this blob, if any. */
  inFlight(request: Pick<BlobRequest, "url" | "sha256">): InFlightDownload | undefined {
    return this.#inFlight.get(keyOf(request));
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
    if (expected && (await this.#store.has(expected))) {
      const size = (await this.#store.size(expected)) ?? 0;
      this.#state.recordBlob(expected, size, request.origin, Date.now());
      return { sha256: expected, size, hashSource: "index", reused: true };
    }
    const limit = this.#options.maxFileSize;
    if (limit !== undefined && request.size !== undefined && request.size > limit) {
      throw new FileSizeLimitError(request.filename, request.url, limit, request.size, true);
    }
    download.tempPath = await this.#store.tempPath(request.filename).catch((error: unknown) => {
      throw new StoreWriteError(this.#store.tmpRoot, error);
    });
    download.emit("progress");
    try {
      return await this.#downloadAndCommit(download, expected);
    } catch (error) {
      // Whatever went wrong, the partial bytes go: a full disk must get its space back.
      await this.#discard(download);
      throw error;
    }
  }

  async #downloadAndCommit(download: InFlightDownload, expected: string | undefined): Promise<FetchedBlob> {
    const { request } = download;
    const deadline = Date.now() + this.#options.fillTimeoutMs;
    let fromScratchAfterMismatch = false;
    for (;;) {
      const { sha256, size, resumed } = await this.#transfer(download, deadline);
      if (request.size !== undefined && size !== request.size) {
        await this.#discard(download);
        throw new SizeMismatchError(request.filename, request.size, size, request.url);
      }
      if (expected && sha256 !== expected) {
        if (resumed && !fromScratchAfterMismatch) {
          // A resume may have stitched two different versions of the file; try once from scratch.
          fromScratchAfterMismatch = true;
          download.reset("digest mismatch after a resumed transfer; downloading again from the start");
          await this.#discard(download);
          download.tempPath = await this.#store.tempPath(request.filename);
          download.bytesWritten = 0;
          continue;
        }
        await this.#discard(download);
        throw new DigestMismatchError(request.filename, expected, sha256, request.url);
      }
      // The kind's check of a whole file (a wheel must be a whole zip: without a hash nothing
      // else would catch one cut short), before it is committed.
      if (this.#options.validate) {
        await this.#options.validate(request, download.tempPath).catch(async (error: unknown) => {
          await this.#discard(download);
          throw error;
        });
      }
      // Verified: readers may send the last bytes now, while the blob is fsynced and renamed.
      download.verifiedSize = size;
      download.emit("progress");
      await this.#store.commit(download.tempPath, sha256);
      this.#state.recordBlob(sha256, size, request.origin, Date.now());
      return { sha256, size, hashSource: expected ? "index" : "computed", reused: false };
    }
  }

  async #discard(download: InFlightDownload): Promise<void> {
    await unlink(download.tempPath).catch(() => undefined);
  }

  /** Streams the URL into the temp file, resuming with Range after failures. */
  async #transfer(
    download: InFlightDownload,
    deadline: number,
  ): Promise<{ sha256: string; size: number; resumed: boolean }> {
    const { request } = download;
    const file = await open(download.tempPath, "w").catch((error: unknown) => {
      throw new StoreWriteError(download.tempPath, error);
    });
    let hash: Hash = createHash("sha256");
    let written = 0;
    let resumed = false;
    let validator: string | undefined;
    const { signal } = download.abort;
    const maxFileSize = this.#options.maxFileSize ?? Number.POSITIVE_INFINITY;
    const timedOut = () => new FetchTimeoutError(request.filename);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          if (signal.aborted) throw signal.reason;
          if (Date.now() > deadline) throw timedOut();
          const headers: Record<string, string> = { "accept-encoding": "identity" };
          if (written > 0) {
            headers.range = `bytes=${written}-`;
            if (validator) headers["if-range"] = validator;
          }
          const response = await this.#client.send("GET", request.url, headers, signal);
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
              await file.truncate(0);
              hash = createHash("sha256");
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
            try {
              await file.writev(buffers, written);
            } catch (error) {
              // ENOSPC, EFBIG, EIO...: the store cannot take the file; retrying upstream won't help.
              throw new StoreWriteError(download.tempPath, error);
            }
            for (const buffer of buffers) hash.update(buffer);
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
          return { sha256: hash.digest("hex"), size: written, resumed };
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          if (error instanceof StoreWriteError) throw error;
          const errno = (error as NodeJS.ErrnoException).code;
          if (errno === "ENOSPC" || errno === "EDQUOT" || errno === "EROFS" || errno === "EIO") {
            throw new StoreWriteError(download.tempPath, error);
          }
          const permanent =
            error instanceof UpstreamStatusError &&
            error.upstreamStatus !== 429 &&
            error.upstreamStatus < 500;
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
    } finally {
      await file.close();
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
