// Content-addressed, immutable blobs under `<data_dir>/blobs/sha256/ab/abcdef…`. A blob is
// written to a temp file in this process's own temp folder, fsynced, then renamed into place, so
// a path in the store always holds complete, verified bytes.
//
// A temp folder is named `fm-<host>-<boot>-<pid>-<start>-<instance>` (see process-alive.ts): the
// name is the marker, so the folder holds nothing but downloads in progress. Only commands that
// write (sync, serve, gc, verify --repair) sweep, and they remove only folders with that exact name
// shape whose process is provably gone: and they remove only folders with that exact name shape whose process is provably gone:
// a pid alone is not proof (a container's freshmirror is PID 1 on every start), so the start
// time, the boot and this process's random instance id decide.
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import { StoreWriteError } from "../errors.js";
import { isProcessAlive, type ProcessIdentity, recordedProcessState, selfIdentity } from "./process-alive.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Below this much free space a new download is not started (it could not be stored). */
const MIN_FREE_BYTES = 64 * 1024;

/** `fm-<host tag>-<boot id>-<pid>-<start ticks>-<instance>`: a temp folder of ours. */
const TEMP_DIR = /^fm-([0-9a-f]{6})-([0-9a-f]{8})-([1-9]\d{0,9})-(\d{1,20})-([0-9a-f]{16})$/;
/** The layout before temp folders carried their owner's start time: `<pid>-<8 hex>`. */
const LEGACY_TEMP_DIR = /^([1-9]\d{0,9})-[0-9a-f]{8}$/;

/** This process's random id: tells our temp folder from one left by an earlier process with our pid. */
const INSTANCE = randomBytes(8).toString("hex");

export function tempDirName(identity: ProcessIdentity = selfIdentity(), instance = INSTANCE): string {
  return `fm-${identity.host}-${identity.boot}-${identity.pid}-${identity.start}-${instance}`;
}

/**
 * Whether a folder in `<data_dir>/tmp` is a temp folder of a freshmirror process that is gone.
 * Anything else (a name we did not make, a live or unknowable owner) is left alone.
 */
export function isDeadTempDir(
  name: string,
  self: ProcessIdentity = selfIdentity(),
  instance = INSTANCE,
): boolean {
  const match = TEMP_DIR.exec(name);
  if (match) {
    const recorded = {
      host: match[1] as string,
      boot: match[2] as string,
      pid: Number(match[3]),
      start: match[4] as string,
    };
    // Only one process holds a pid at a time: our pid with another instance id is an earlier life.
    if (recorded.host === self.host && recorded.boot === self.boot && recorded.pid === self.pid) {
      return match[5] !== instance;
    }
    return recordedProcessState(recorded, self) === "dead";
  }
  const legacy = LEGACY_TEMP_DIR.exec(name);
  if (legacy) {
    // Written by an older freshmirror: this process never makes such a folder, so one with our
    // pid is an earlier life's; another pid counts as gone only when no process has it.
    const pid = Number(legacy[1]);
    return pid === self.pid || !isProcessAlive(pid);
  }
  return false;
}

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

  /** Creates the folders. Deletes nothing: read-only commands open the store too. */
  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.tmpRoot, { recursive: true });
  }

  /**
   * Removes temp folders left by freshmirror processes that are gone (killed mid-download).
   * Only for commands that write; returns the names removed.
   */
  async sweepTemp(): Promise<string[]> {
    const removed: string[] = [];
    for (const entry of await readdir(this.tmpRoot, { withFileTypes: true })) {
      if (!entry.isDirectory() || !isDeadTempDir(entry.name)) continue;
      await rm(join(this.tmpRoot, entry.name), { recursive: true, force: true });
      removed.push(entry.name);
    }
    return removed;
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

  /**
   * A fresh temp file path inside this process's temp folder (the file is not created). Every
   * download starts here, so a file system with (almost) no room left is refused here with ENOSPC,
   * before a client is sent headers for a download that cannot be stored.
   */
  async tempPath(hint = "blob"): Promise<string> {
    const fs = await statfs(this.tmpRoot).catch(() => undefined);
    if (fs !== undefined && fs.bavail * fs.bsize < MIN_FREE_BYTES) {
      throw Object.assign(new Error(`ENOSPC: no space left on device, ${this.tmpRoot}`), { code: "ENOSPC" });
    }
    if (this.#tmpDir === undefined) {
      const dir = join(this.tmpRoot, tempDirName());
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
