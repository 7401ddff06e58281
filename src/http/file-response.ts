// Answers a request for immutable file bytes: validators (ETag, Last-Modified), conditional
// requests (304), Range and If-Range (206, 416) per RFC 9110 §13-14, HEAD, immutable caching.
// Bodies are streamed from a source that can start at any offset — a blob on disk, or a download
// still in flight — never buffered whole.
import { open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface FileMeta {
  size: number;
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

/** Where the body comes from: a stream from any offset (a download in flight), or a complete file. */
export type OpenBody = ((range: ByteRange) => Readable) | { path: string };

const FILE_CHUNK = 1 << 20;

/**
 * Sends bytes [start, end] of a file with two reusable 1 MiB buffers: a buffer is read into again
 * only after the socket took the chunk written from it. Memory per response stays at 2 MiB however
 * large the file, and no garbage of fresh Buffers piles up as with a read stream.
 */
async function sendFileRange(res: ServerResponse, path: string, range: ByteRange): Promise<void> {
  const handle = await open(path, "r");
  let gone: ((error: Error) => void) | undefined;
  const closed = new Promise<never>((_, reject) => {
    gone = reject;
  });
  closed.catch(() => undefined);
  const onClose = () => {
    if (!res.writableFinished) gone?.(new Error("client closed the connection"));
  };
  res.once("close", onClose);
  try {
    const buffers = [Buffer.allocUnsafe(FILE_CHUNK), Buffer.allocUnsafe(FILE_CHUNK)];
    const pending: (Promise<void> | undefined)[] = [undefined, undefined];
    let position = range.start;
    let turn = 0;
    while (position <= range.end) {
      if (pending[turn]) await Promise.race([pending[turn], closed]);
      const buffer = buffers[turn] as Buffer;
      const { bytesRead } = await handle.read(
        buffer,
        0,
        Math.min(FILE_CHUNK, range.end - position + 1),
        position,
      );
      if (bytesRead === 0) throw new Error(`${path} is shorter than expected`);
      position += bytesRead;
      const written = new Promise<void>((resolve, reject) => {
        res.write(buffer.subarray(0, bytesRead), (error) => (error ? reject(error) : resolve()));
      });
      written.catch(() => undefined);
      pending[turn] = written;
      turn ^= 1;
    }
    await Promise.race([Promise.all(pending), closed]);
    res.end();
  } finally {
    res.off("close", onClose);
    await handle.close();
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
  if (typeof openBody !== "function") {
    try {
      await sendFileRange(res, openBody.path, span);
    } catch {
      res.destroy();
    }
    return { status: res.statusCode, bytes: length };
  }
  const body = openBody(span);
  try {
    await pipeline(body, res);
  } catch {
    // Client gone, or the source failed (a download that did not verify): destroy the socket so
    // the client sees a failed transfer, never a short body that looks complete.
    res.destroy();
    body.destroy();
  }
  return { status: res.statusCode, bytes: length };
}
