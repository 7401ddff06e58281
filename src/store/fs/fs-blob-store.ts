// The blob store on a local file system: `<data_dir>/blobs/sha256/ab/abcdef…`. A blob is written
// to a temp file in this process's own temp folder (see temp-dirs.ts), hashed as it is written,
// fsynced, then renamed into place, so a path in the store always holds complete, verified bytes.
// No path leaves this file: callers name blobs by digest only.
import { createHash, type Hash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { BlobMissingError, DigestMismatchError, StoreWriteError } from "../../errors.js";
import {
  assertSha256,
  type BlobHandle,
  type BlobRange,
  type BlobStore,
  type BlobWriter,
  isSha256Hex,
} from "../blob-store.js";
import { isDeadTempDir, tempDirName } from "./temp-dirs.js";

/** Below this much free space a new download is not started (it could not be stored). */
const MIN_FREE_BYTES = 64 * 1024;
const READ_STREAM_CHUNK = 256 * 1024;

export class FsBlobStore implements BlobStore {
  readonly #blobsDir: string;
  readonly #tmpRoot: string;
  #tmpDir: string | undefined;

  constructor(dataDir: string) {
    this.#blobsDir = join(dataDir, "blobs", "sha256");
    this.#tmpRoot = join(dataDir, "tmp");
  }

  /** Creates the folders. Deletes nothing: read-only commands open the store too. */
  async init(): Promise<void> {
    await mkdir(this.#blobsDir, { recursive: true });
    await mkdir(this.#tmpRoot, { recursive: true });
  }

  /**
   * For commands that write: creates this process's temp folder (a real write, which is what
   * tells a read-only mount or an immutable folder apart: access(2) says yes to root either way),
   * then removes temp folders left by freshmirror processes that are gone (killed mid-download).
   * Returns the names removed.
   */
  async prepareForWrites(): Promise<string[]> {
    await this.#ownTempDir();
    const removed: string[] = [];
    for (const entry of await readdir(this.#tmpRoot, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isDeadTempDir(entry.name)) continue;
      await rm(join(this.#tmpRoot, entry.name), { recursive: true, force: true });
      removed.push(entry.name);
    }
    return removed;
  }

  #pathFor(sha256: string): string {
    assertSha256(sha256);
    return join(this.#blobsDir, sha256.slice(0, 2), sha256);
  }

  async stat(sha256: string): Promise<number | undefined> {
    const path = this.#pathFor(sha256);
    try {
      return (await stat(path)).size;
    } catch {
      return undefined;
    }
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.stat(sha256)) !== undefined;
  }

  async read(sha256: string, range?: BlobRange): Promise<Readable> {
    const handle = await this.#openFile(sha256);
    if (handle === undefined) throw new BlobMissingError(sha256);
    return handle.createReadStream({
      start: range?.start ?? 0,
      ...(range === undefined ? {} : { end: range.end }),
      highWaterMark: READ_STREAM_CHUNK,
      autoClose: true,
    });
  }

  async open(sha256: string): Promise<BlobHandle | undefined> {
    const handle = await this.#openFile(sha256);
    if (handle === undefined) return undefined;
    try {
      const { size } = await handle.stat();
      return fileBlobHandle(handle, () => size);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  async #openFile(sha256: string): Promise<FileHandle | undefined> {
    const path = this.#pathFor(sha256);
    try {
      return await open(path, constants.O_RDONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async #ownTempDir(): Promise<string> {
    if (this.#tmpDir === undefined) {
      const dir = join(this.#tmpRoot, tempDirName());
      await mkdir(dir, { recursive: true });
      this.#tmpDir = dir;
    }
    return this.#tmpDir;
  }

  /**
   * Every write starts here, so a file system with (almost) no room left is refused here with
   * ENOSPC, before a client is sent headers for a download that cannot be stored.
   */
  async begin(hint = "blob"): Promise<BlobWriter> {
    let path = this.#tmpRoot;
    try {
      const fs = await statfs(this.#tmpRoot).catch(() => undefined);
      if (fs !== undefined && fs.bavail * fs.bsize < MIN_FREE_BYTES) {
        throw Object.assign(new Error(`ENOSPC: no space left on device, ${this.#tmpRoot}`), {
          code: "ENOSPC",
        });
      }
      const safeHint = hint.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
      path = join(await this.#ownTempDir(), `${randomBytes(8).toString("hex")}-${safeHint}`);
      const file = await open(path, "wx+");
      return new FsBlobWriter(path, file, hint, (sha256) => this.#pathFor(sha256), this.#blobsDir);
    } catch (error) {
      throw new StoreWriteError(path, error);
    }
  }

  async putBuffer(content: Buffer, hint = "metadata"): Promise<string> {
    const sha256 = createHash("sha256").update(content).digest("hex");
    if (await this.has(sha256)) return sha256;
    const writer = await this.begin(hint);
    try {
      await writer.write([content]);
      await writer.commit(sha256);
    } finally {
      await writer.abort();
    }
    return sha256;
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.#pathFor(sha256), { force: true });
  }

  async *list(): AsyncIterable<string> {
    let prefixes: string[];
    try {
      prefixes = await readdir(this.#blobsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const prefix of prefixes.sort()) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      let names: string[];
      try {
        names = await readdir(join(this.#blobsDir, prefix));
      } catch {
        continue; // not a folder, or removed meanwhile
      }
      // Only a digest filed under its own prefix is a blob; anything else is not ours to name.
      for (const name of names) if (isSha256Hex(name) && name.startsWith(prefix)) yield name;
    }
  }
}

/** A BlobHandle over an open file; `size` is read when asked (a file still being written grows). */
function fileBlobHandle(handle: FileHandle, size: () => number): BlobHandle {
  return {
    get size() {
      return size();
    },
    async readInto(buffer, offset, length, position) {
      return (await handle.read(buffer, offset, length, position)).bytesRead;
    },
    async readRange(start, end) {
      const length = Math.max(0, Math.min(end, size()) - start);
      const buffer = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buffer : buffer.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

/** A write session: a temp file of this process's, hashed as it grows. */
class FsBlobWriter implements BlobWriter {
  readonly #path: string;
  readonly #file: FileHandle;
  readonly #hint: string;
  readonly #target: (sha256: string) => string;
  readonly #blobsDir: string;
  #hash: Hash = createHash("sha256");
  #size = 0;
  #state: "open" | "committed" | "aborted" = "open";
  #committedAs: string | undefined;

  constructor(
    path: string,
    file: FileHandle,
    hint: string,
    target: (sha: string) => string,
    blobsDir: string,
  ) {
    this.#path = path;
    this.#file = file;
    this.#hint = hint;
    this.#target = target;
    this.#blobsDir = blobsDir;
  }

  get size(): number {
    return this.#size;
  }

  #assertOpen(): void {
    if (this.#state !== "open") throw new Error(`blob write session for ${this.#hint} is ${this.#state}`);
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    this.#assertOpen();
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.length;
    if (bytes === 0) return;
    try {
      await this.#file.writev(chunks as Buffer[], this.#size);
    } catch (error) {
      // ENOSPC, EFBIG, EIO...: the store cannot take the bytes.
      throw new StoreWriteError(this.#path, error);
    }
    for (const chunk of chunks) this.#hash.update(chunk);
    this.#size += bytes;
  }

  async restart(): Promise<void> {
    this.#assertOpen();
    await this.#file.truncate(0);
    this.#hash = createHash("sha256");
    this.#size = 0;
  }

  digest(): string {
    return this.#hash.copy().digest("hex");
  }

  async openWritten(): Promise<BlobHandle> {
    // A handle opened on the temp file keeps reading the same bytes after the rename into place.
    const path = this.#state === "committed" ? this.#target(this.#committedAs as string) : this.#path;
    const handle = await open(path, constants.O_RDONLY);
    return fileBlobHandle(handle, () => this.#size);
  }

  async commit(expectedSha256?: string): Promise<{ sha256: string; size: number }> {
    this.#assertOpen();
    if (expectedSha256 !== undefined) assertSha256(expectedSha256);
    const sha256 = this.digest();
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      await this.abort();
      throw new DigestMismatchError(this.#hint, expectedSha256, sha256);
    }
    const target = this.#target(sha256);
    try {
      // fsync first, so a crash never leaves a short blob behind a valid name.
      await this.#file.sync();
      await this.#file.close();
      await mkdir(join(this.#blobsDir, sha256.slice(0, 2)), { recursive: true });
      // rename(2) is atomic: readers see no blob or the whole one; a concurrent commit of the same
      // digest replaces identical bytes.
      await rename(this.#path, target);
    } catch (error) {
      this.#state = "aborted";
      await this.#file.close().catch(() => undefined);
      await unlink(this.#path).catch(() => undefined);
      throw new StoreWriteError(target, error);
    }
    this.#state = "committed";
    this.#committedAs = sha256;
    return { sha256, size: this.#size };
  }

  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    await this.#file.close().catch(() => undefined);
    await unlink(this.#path).catch(() => undefined);
  }
}
