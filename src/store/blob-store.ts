// The blob store: content-addressed, immutable bytes named by their sha256. Callers never see
// where or how bytes are kept (a file system today, an object store later): they stat, read a
// byte range, write through a session that hashes and verifies before the blob becomes visible,
// remove and list. Every implementation runs the one contract suite in blob-store.contract.ts.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { BlobMissingError } from "../errors.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `value` is a lowercase hex sha256 digest: the only names a blob store accepts. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}

/** Throws unless `sha256` is a digest: a path-like or hostile name never reaches a backend. */
export function assertSha256(sha256: string): void {
  if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256)) {
    throw new TypeError(`not a sha256 digest: ${JSON.stringify(String(sha256).slice(0, 80))}`);
  }
}

/** Bytes [start, end] of a blob, both inclusive (as in an HTTP Range). */
export interface BlobRange {
  start: number;
  end: number;
}

/** Random access to a span of bytes: what the wheel METADATA reader and the zip check need. */
export interface ByteRangeSource {
  /** Bytes available now. */
  readonly size: number;
  /** Bytes [start, end) (end exclusive); shorter only where the bytes end. */
  readRange(start: number, end: number): Promise<Buffer>;
}

/**
 * An open blob (or the bytes written so far by a write session), read at any position. Callers
 * that send many chunks reuse their own buffers with `readInto`.
 */
export interface BlobHandle extends ByteRangeSource {
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; 0 at the end. */
  readInto(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A blob being written. Bytes are appended and hashed as they come; nothing is visible under a
 * digest until `commit` verified it. A session that is not committed must be aborted, which
 * deletes what it wrote.
 */
export interface BlobWriter {
  /** Bytes written so far. */
  readonly size: number;
  /** Appends the chunks (in order) and hashes them. */
  write(chunks: readonly Buffer[]): Promise<void>;
  /** Drops everything written so far (a transfer that starts over). */
  restart(): Promise<void>;
  /** The sha256 (hex) of the bytes written so far. */
  digest(): string;
  /**
   * Reads the bytes written so far while the session goes on (and, once committed, the blob):
   * readers of a download in flight follow it through this.
   */
  openWritten(): Promise<BlobHandle>;
  /**
   * Makes the bytes durable and visible under their digest, atomically. With `expectedSha256`,
   * bytes that hash to anything else are discarded and DigestMismatchError thrown. Committing a
   * digest already stored keeps the stored blob (the bytes are the same) and succeeds.
   */
  commit(expectedSha256?: string): Promise<{ sha256: string; size: number }>;
  /** Discards the session's bytes; harmless after commit or a second time. */
  abort(): Promise<void>;
}

export interface BlobStore {
  /** The blob's size in bytes, or undefined when it is not stored. */
  stat(sha256: string): Promise<number | undefined>;
  has(sha256: string): Promise<boolean>;
  /**
   * A stream of the blob's bytes, or of `range` (inclusive) of them. Rejects with
   * BlobMissingError when it is not stored.
   */
  read(sha256: string, range?: BlobRange): Promise<Readable>;
  /** Random access to a stored blob; undefined when it is not stored. */
  open(sha256: string): Promise<BlobHandle | undefined>;
  /**
   * Starts a write session. `hint` (a filename) only labels temp data. Refuses to start (with
   * StoreWriteError) when the store cannot take a new blob, e.g. a full disk.
   */
  begin(hint?: string): Promise<BlobWriter>;
  /** Stores small content (core metadata) and returns its digest. */
  putBuffer(content: Buffer, hint?: string): Promise<string>;
  /** Removes the blob; nothing happens when it is not stored. */
  remove(sha256: string): Promise<void>;
  /** The digest of every stored blob, in no particular order. */
  list(): AsyncIterable<string>;
  /**
   * For processes that write: proves the store takes writes (a read-only mount fails here, at
   * start) and clears what writers that died mid-blob left behind.
   */
  prepareForWrites(): Promise<unknown>;
}

/** Hashes a stored blob again (for `verify`): its digest and size, or undefined when missing. */
export async function rehashBlob(
  store: BlobStore,
  sha256: string,
): Promise<{ sha256: string; size: number } | undefined> {
  if (!isSha256Hex(sha256) || !(await store.has(sha256))) return undefined;
  const hash = createHash("sha256");
  let size = 0;
  let stream: Readable;
  try {
    stream = await store.read(sha256);
  } catch {
    return undefined;
  }
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

/** Opens a stored blob for `use` and closes it after; BlobMissingError when it is not stored. */
export async function withBlob<T>(
  store: BlobStore,
  sha256: string,
  use: (blob: BlobHandle) => Promise<T>,
): Promise<T> {
  const handle = await store.open(sha256);
  if (handle === undefined) throw new BlobMissingError(sha256);
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}
