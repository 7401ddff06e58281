// Content-addressed, immutable blobs under `<data_dir>/blobs/sha256/ab/abcdef…`. A blob is
// written to a temp file in `<data_dir>/tmp/<pid>-<nonce>/`, fsynced, then renamed into place, so
// a path in the store always holds complete, verified bytes. Temp folders of dead processes are
// swept at start-up.
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { StoreWriteError } from "../errors.js";
import { isProcessAlive } from "./process-alive.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}

export class BlobStore {
  readonly blobsDir: string;
  readonly tmpRoot: string;
  #tmpDir: string | undefined;

  constructor(dataDir: string) {
    this.blobsDir = join(dataDir, "blobs", "sha256");
    this.tmpRoot = join(dataDir, "tmp");
  }

  /** Creates the folders and removes temp files left by processes that are gone. */
  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.tmpRoot, { recursive: true });
    for (const entry of await readdir(this.tmpRoot)) {
      const pid = Number(entry.split("-")[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid)) {
        await rm(join(this.tmpRoot, entry), { recursive: true, force: true });
      }
    }
  }

  pathFor(sha256: string): string {
    if (!isSha256Hex(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return join(this.blobsDir, sha256.slice(0, 2), sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathFor(sha256));
      return true;
    } catch {
      return false;
    }
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathFor(sha256))).size;
    } catch {
      return undefined;
    }
  }

  /** A fresh temp file path inside this process's temp folder (the file is not created). */
  async tempPath(hint = "blob"): Promise<string> {
    if (this.#tmpDir === undefined) {
      const dir = join(this.tmpRoot, `${process.pid}-${randomBytes(4).toString("hex")}`);
      await mkdir(dir, { recursive: true });
      this.#tmpDir = dir;
    }
    const safeHint = hint.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
    return join(this.#tmpDir, `${randomBytes(8).toString("hex")}-${safeHint}`);
  }

  /**
   * Moves a complete, verified temp file into the store under its digest. The file is fsynced
   * first so a crash never leaves a short blob behind a valid name.
   */
  async commit(tempPath: string, sha256: string): Promise<string> {
    const target = this.pathFor(sha256);
    try {
      const handle = await open(tempPath, constants.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await mkdir(join(this.blobsDir, sha256.slice(0, 2)), { recursive: true });
      await rename(tempPath, target);
    } catch (error) {
      await unlink(tempPath).catch(() => undefined);
      throw new StoreWriteError(target, error);
    }
    return target;
  }

  /** Stores small content (core metadata) and returns its digest. */
  async putBuffer(content: Buffer, hint = "metadata"): Promise<string> {
    const sha256 = createHash("sha256").update(content).digest("hex");
    if (await this.has(sha256)) return sha256;
    const temp = await this.tempPath(hint);
    try {
      const handle = await open(temp, "wx");
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw new StoreWriteError(temp, error);
    }
    await this.commit(temp, sha256);
    return sha256;
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathFor(sha256), { force: true });
  }

  /** Hashes a stored blob again (for `verify`). */
  async rehash(sha256: string): Promise<{ sha256: string; size: number } | undefined> {
    const path = this.pathFor(sha256);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, "r");
    } catch {
      return undefined;
    }
    try {
      const hash = createHash("sha256");
      let size = 0;
      for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      return { sha256: hash.digest("hex"), size };
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
}
