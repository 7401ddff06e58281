// Answers a request for immutable file bytes: validators (ETag, Last-Modified), conditional
// requests (304), Range and If-Range (206, 416) per RFC 9110 §13-14, HEAD, immutable caching.
// Bodies are streamed from a source that can start at any offset — a blob on disk, or a download
// still in flight — never buffered whole. A file of unknown size (a download from an upstream
// that gives none) is sent at once with chunked encoding. A client that takes no bytes for
// `send_timeout` is cut off, and a response pins at most four 128 KiB buffers until its client
// has shown it reads (then two of 1 MiB, within a budget all responses share).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { BlobHandle } from "../store/blob-store.js";
import type { SendBufferBudget } from "./send-buffer-budget.js";

export interface FileMeta {
  /** Undefined while a download whose size nobody declared is in flight: sent chunked. */
  size: number | undefined;
  /** Hex sha256: the strong ETag; null while a download of a file without a published hash runs. */
  sha256: string | null;
  lastModified: Date;
  contentType: string;
  extraHeaders?: Record<string, string>;
}

/** A byte range [start, end], both inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a Range header for a representation of `size` bytes. Returns undefined when the header
 * should be ignored (absent, not bytes, several ranges: we then answer 200 with the whole
 * file, which RFC 9110 allows), "unsatisfiable" for a 416, or the one range.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

function etagOf(sha256: string): string {
  return `"${sha256}"`;
}

function etagMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === "*") return true;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim();
    if (weak) return tag.replace(/^W\//, "") === etag;
    return tag === etag;
  });
}

/**
 * Where the body comes from: a stream from any offset (a download in flight), or random access to
 * complete bytes (a stored blob), read chunk by chunk into the sender's own buffers.
 */
export type OpenBody = ((range: ByteRange) => Readable) | { open: () => Promise<BlobHandle> };

export interface SendOptions {
  /**
   * Milliseconds a client may take no bytes while some are waiting for it (nginx's send_timeout:
   * a stall between two writes, not the whole transfer); then the connection is closed and its
   * buffers released. 0 or undefined: no limit.
   */
  sendTimeoutMs?: number | undefined;
  /** Large send buffers shared by all file responses; without it, every response keeps small ones. */
  sendBuffers?: SendBufferBudget | undefined;
}

/**
 * One timer per response, re-armed (refresh, no new timer) each time the response waits for the
 * client to take bytes, and ignored while it waits for bytes to send (a slow upstream is not a
 * slow client).
 */
class SendWatchdog {
  readonly #timer: NodeJS.Timeout | undefined;
  #waiting = false;

  constructor(res: ServerResponse, ms: number | undefined) {
    if (ms === undefined || ms <= 0) return;
    // setTimeout takes at most 2^31-1 ms (~24.8 days); more would fire at once.
    this.#timer = setTimeout(
      () => {
        if (this.#waiting) res.destroy();
      },
      Math.min(ms, 2 ** 31 - 1),
    );
    this.#timer.unref();
  }

  /** Waits for `promise` (a write the client must take); the response dies if it stalls too long. */
  async guard<T>(promise: Promise<T>): Promise<T> {
    this.#waiting = true;
    this.#timer?.refresh();
    try {
      return await promise;
    } finally {
      this.#waiting = false;
    }
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }
}

/** A set of reusable send buffers: `count` chunks of `chunk` bytes in flight. */
interface BufferSet {
  chunk: number;
  count: number;
}

/**
 * What every response starts with: 4 × 128 KiB, so that 512 stalled responses (the default
 * max_file_responses) pin at most 256 MiB; four chunks in flight keep the disk reads going while
 * the socket drains. (1 MiB chunks for everyone made 300 non-reading sockets cost 600 MB.)
 */
const SMALL_BUFFERS: BufferSet = { chunk: 128 * 1024, count: 4 };
/**
 * What a proven reader moves to while the shared SendBufferBudget has room: per chunk, a read and
 * a write cost the same whatever their size, and small chunks cap one client at about nginx's
 * rate (1 GiB on loopback: 0.78× nginx with 2 × 256 KiB, ~1.0× with 4 × 128 KiB, ~1.3× with 2 × 1 MiB).
 */
const LARGE_BUFFERS: BufferSet = { chunk: 1024 * 1024, count: 2 };
/**
 * Bytes a client must have taken before its response may move to large buffers: more than a
 * client that never reads can absorb in kernel buffers (its receive buffer grows only as it
 * reads, from tcp_rmem's 128 KiB default, plus our send buffer, at most tcp_wmem's 4 MiB).
 */
const PROVEN_READER_BYTES = 32 * 1024 * 1024;

const bytesOf = (set: BufferSet) => set.chunk * set.count;

/** Rejects when the response closes before it finished (the client left, or send_timeout hit). */
function closedEarly(res: ServerResponse): { closed: Promise<never>; dispose(): void } {
  let gone: ((error: Error) => void) | undefined;
  const closed = new Promise<never>((_, reject) => {
    gone = reject;
  });
  closed.catch(() => undefined);
  const onClose = () => {
    if (!res.writableFinished) gone?.(new Error("client closed the connection"));
  };
  res.once("close", onClose);
  if (res.destroyed) onClose();
  return { closed, dispose: () => res.off("close", onClose) };
}

/**
 * Sends bytes [start, end] of a file with reusable buffers: a buffer is read into again only after
 * the socket took the chunk written from it, so memory per response stays at one BufferSet however
 * large the file, and no garbage of fresh Buffers piles up as with a read stream. A response
 * starts with SMALL_BUFFERS and moves to LARGE_BUFFERS once its client took PROVEN_READER_BYTES,
 * if `budget` has room (given back when the response ends).
 */
async function sendFileRange(
  res: ServerResponse,
  openHandle: () => Promise<BlobHandle>,
  range: ByteRange,
  watchdog: SendWatchdog,
  budget: SendBufferBudget | undefined,
): Promise<void> {
  const handle = await openHandle();
  const { closed, dispose } = closedEarly(res);
  let taken = 0;
  try {
    let set = SMALL_BUFFERS;
    let buffers = Array.from({ length: set.count }, () => Buffer.allocUnsafe(set.chunk));
    let pending: (Promise<void> | undefined)[] = buffers.map(() => undefined);
    let position = range.start;
    let turn = 0;
    while (position <= range.end) {
      if (
        set === SMALL_BUFFERS &&
        budget !== undefined &&
        position - range.start >= PROVEN_READER_BYTES &&
        budget.tryTake(bytesOf(LARGE_BUFFERS))
      ) {
        taken = bytesOf(LARGE_BUFFERS);
        await watchdog.guard(Promise.race([Promise.all(pending), closed]));
        set = LARGE_BUFFERS;
        buffers = Array.from({ length: set.count }, () => Buffer.allocUnsafe(set.chunk));
        pending = buffers.map(() => undefined);
        turn = 0;
      }
      if (pending[turn] !== undefined) await watchdog.guard(Promise.race([pending[turn], closed]));
      const buffer = buffers[turn] as Buffer;
      const bytesRead = await handle.readInto(
        buffer,
        0,
        Math.min(set.chunk, range.end - position + 1),
        position,
      );
      if (bytesRead === 0) throw new Error(`the stored bytes end before offset ${position}`);
      position += bytesRead;
      const written = new Promise<void>((resolve, reject) => {
        res.write(buffer.subarray(0, bytesRead), (error) => (error ? reject(error) : resolve()));
      });
      written.catch(() => undefined);
      pending[turn] = written;
      turn = (turn + 1) % set.count;
    }
    await watchdog.guard(Promise.race([Promise.all(pending), closed]));
    res.end();
  } finally {
    dispose();
    budget?.give(taken);
    await handle.close();
  }
}

/**
 * Streams a body that follows a download in flight. Backpressure by hand rather than pipeline():
 * the watchdog must see the waits on the client (drain), and only those.
 */
async function sendStream(res: ServerResponse, body: Readable, watchdog: SendWatchdog): Promise<void> {
  const { closed, dispose } = closedEarly(res);
  // A client that leaves while the body waits for upstream bytes: stop reading the download.
  closed.catch((error: Error) => body.destroy(error));
  try {
    for await (const chunk of body) {
      if (res.write(chunk as Buffer)) continue;
      await watchdog.guard(
        Promise.race([new Promise<void>((resolve) => res.once("drain", () => resolve())), closed]),
      );
    }
    // Only now, the download verified, does a chunked body get its terminating chunk.
    res.end();
  } finally {
    dispose();
  }
}

/**
 * Sends the file. `openBody` is called only when a body is sent. Returns the status sent and the
 * number of body bytes intended.
 */
export async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  meta: FileMeta,
  openBody: OpenBody,
  options: SendOptions = {},
): Promise<{ status: number; bytes: number }> {
  const etag = meta.sha256 === null ? undefined : etagOf(meta.sha256);
  const lastModified = meta.lastModified.toUTCString();
  if (etag) res.setHeader("ETag", etag);
  res.setHeader("Last-Modified", lastModified);
  res.setHeader("Cache-Control", "public, max-age=31536000, immutable");
  res.setHeader("Accept-Ranges", "bytes");
  for (const [name, value] of Object.entries(meta.extraHeaders ?? {})) res.setHeader(name, value);

  const ifNoneMatch = req.headers["if-none-match"];
  const ifModifiedSince = req.headers["if-modified-since"];
  const notModified =
    ifNoneMatch !== undefined
      ? etag !== undefined && etagMatches(ifNoneMatch, etag, true)
      : ifModifiedSince !== undefined &&
        !Number.isNaN(Date.parse(ifModifiedSince)) &&
        Math.floor(meta.lastModified.getTime() / 1000) <= Math.floor(Date.parse(ifModifiedSince) / 1000);
  if (notModified) {
    res.statusCode = 304;
    res.end();
    return { status: 304, bytes: 0 };
  }

  if (meta.size === undefined) return sendUnknownSize(req, res, meta, openBody, options);
  let range = parseRange(req.headers.range, meta.size);
  const ifRangeHeader = req.headers["if-range"];
  const ifRange = Array.isArray(ifRangeHeader) ? ifRangeHeader[0] : ifRangeHeader;
  if (range !== undefined && ifRange !== undefined) {
    const valid =
      ifRange.trim().startsWith('"') || ifRange.trim().startsWith("W/")
        ? etag !== undefined && etagMatches(ifRange, etag, false)
        : ifRange.trim() === lastModified;
    if (!valid) range = undefined;
  }
  if (range === "unsatisfiable") {
    res.statusCode = 416;
    res.setHeader("Content-Range", `bytes */${meta.size}`);
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    const message = `range not satisfiable: ${req.headers.range} for a file of ${meta.size} bytes\n`;
    res.setHeader("Content-Length", Buffer.byteLength(message));
    res.end(req.method === "HEAD" ? undefined : message);
    return { status: 416, bytes: 0 };
  }
  const span: ByteRange = range ?? { start: 0, end: meta.size - 1 };
  const length = meta.size === 0 ? 0 : span.end - span.start + 1;
  res.statusCode = range ? 206 : 200;
  if (range) res.setHeader("Content-Range", `bytes ${span.start}-${span.end}/${meta.size}`);
  res.setHeader("Content-Type", meta.contentType);
  res.setHeader("Content-Length", length);
  if (req.method === "HEAD" || length === 0) {
    res.end();
    return { status: res.statusCode, bytes: 0 };
  }
  await sendBody(res, openBody, span, options);
  return { status: res.statusCode, bytes: length };
}

async function sendBody(
  res: ServerResponse,
  openBody: OpenBody,
  span: ByteRange,
  options: SendOptions,
): Promise<void> {
  const watchdog = new SendWatchdog(res, options.sendTimeoutMs);
  const body = typeof openBody === "function" ? openBody(span) : undefined;
  try {
    if (body) await sendStream(res, body, watchdog);
    else
      await sendFileRange(
        res,
        (openBody as { open: () => Promise<BlobHandle> }).open,
        span,
        watchdog,
        options.sendBuffers,
      );
  } catch {
    // Client gone, send_timeout, or the source failed (a download that did not verify): destroy
    // the socket so the client sees a failed transfer, never a short body that looks complete.
    res.destroy();
    body?.destroy();
  } finally {
    watchdog.dispose();
  }
}

/**
 * A download in flight whose size neither the index nor upstream's Content-Length gave: 200 at
 * once, chunked (RFC 9112 §7.1), bytes as they land, the terminating chunk only once the download
 * is verified, so a failed one reaches the client as a broken transfer.
 * A Range header is ignored and the whole file sent with 200, as RFC 9110 §14.2 allows and as
 * nginx (its range filter skips responses without a known length) and Varnish (no ranges on a
 * streaming object of unknown length) do: a range can be neither checked against the size nor
 * answered with a complete Content-Range. Clients that resume (pip does not) then get it all.
 */
async function sendUnknownSize(
  req: IncomingMessage,
  res: ServerResponse,
  meta: FileMeta,
  openBody: OpenBody,
  options: SendOptions,
): Promise<{ status: number; bytes: number }> {
  res.statusCode = 200;
  res.setHeader("Content-Type", meta.contentType);
  if (req.method === "HEAD") {
    res.end();
    return { status: 200, bytes: 0 };
  }
  // Headers go out now, before the first byte: clients (pip waits 15 s) see the answer at once.
  res.flushHeaders();
  await sendBody(res, openBody, { start: 0, end: Number.POSITIVE_INFINITY }, options);
  return { status: 200, bytes: 0 };
}
