// One download in progress and the readers that follow it. Bytes land in a blob store write
// session; readers tail what was written so far at their own pace, and are destroyed with the
// error when the download fails, never ended cleanly, so no client mistakes a short body for a
// complete one. Until the bytes are verified, the last byte of a reader's span is held back.
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { FetchAbandonedError, FetchRestartedError, InternalError } from "../errors.js";
import type { BlobHandle, BlobStore, BlobWriter } from "../store/blob-store.js";
import type { StreamResponse } from "../upstream/http-client.js";
import type { OtherHash } from "./other-hash.js";

/**
 * Where a blob's bytes come from when not a plain GET of `url` through the mirror's upstream
 * client: a kind with its own protocol (an OCI registry's token auth, redirects to a CDN followed
 * without the registry's Authorization) opens the transfer itself. Called once per attempt with
 * the headers the fetcher wants (Range/If-Range when resuming) and the download's abort signal;
 * answers like UpstreamClient.send (a 2xx it did not honour the range for is a 200). Throws a
 * coded error for what upstream refused (a 4xx error is not retried).
 */
export type BlobSource = (headers: Record<string, string>, signal: AbortSignal) => Promise<StreamResponse>;

export interface BlobRequest {
  /** For messages and single flight (with no sha256); the URL fetched unless `source` is given. */
  url: string;
  /** Opens the transfer instead of a GET of `url` (see BlobSource). */
  source?: BlobSource | undefined;
  /** For messages and temp file names. */
  filename: string;
  /** Expected sha256 (hex); without it the computed digest is accepted and flagged. */
  sha256?: string | undefined;
  /** Without a sha256: another digest the index gave (sha512, md5, …), checked before the commit. */
  otherHash?: OtherHash | undefined;
  size?: number | undefined;
  /** "sync" or "fetch" (on demand): recorded with the blob for cache eviction. */
  origin: string;
}

export interface FetchedBlob {
  sha256: string;
  size: number;
  hashSource: "index" | "computed";
  /** True when the blob was already in the store and nothing was downloaded. */
  reused: boolean;
}

export const DEFAULT_ABANDON_GRACE_MS = 30_000;

const READ_CHUNK = 256 * 1024;

/** One download in progress; emits "progress" after each write, "done" or "failed" once. */
export class InFlightDownload extends EventEmitter {
  readonly request: BlobRequest;
  /** The write session the bytes go to; undefined until the transfer starts. */
  writer: BlobWriter | undefined;
  bytesWritten = 0;
  /** When the download began (ms since the epoch). */
  readonly startedAt = Date.now();
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
    let handle: BlobHandle | undefined;
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
              const bytesRead = await handle.readInto(buffer, 0, length, position);
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

  /** Opens the bytes for reading: those written so far while downloading, the blob once stored. */
  async #openForRead(): Promise<BlobHandle> {
    for (;;) {
      if (this.state === "done") {
        const stored = await this.#store.open(this.result?.sha256 ?? "");
        if (stored) return stored;
        throw new Error(`${this.request.filename} is no longer in the store`);
      }
      if (this.state === "failed")
        throw (
          this.error ??
          new InternalError(`download of ${this.request.filename} failed without a recorded error`)
        );
      if (this.writer !== undefined) {
        try {
          return await this.writer.openWritten();
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
          // Moved into the store while the open was under way: if the download finished (or
          // failed) meanwhile, its event has fired already and no other one is coming.
          if (this.state !== "running") continue;
        }
      }
      // Not started yet, or moved into the store a moment ago: the next event tells.
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
