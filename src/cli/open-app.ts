import { statSync, unlinkSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { App } from "../app/app.js";
import { loadConfig } from "../app/load-config.js";
import { StoreNotWritableError } from "../errors.js";
import { createLogger, logLevelFrom } from "../logging/logger.js";
import type { CommandIo } from "./command-io.js";

export interface OpenAppOptions {
  /**
   * The command writes to the store (sync, serve, gc, verify --repair): check now that data_dir
   * is writable, and sweep temp folders left by killed freshmirror processes. Read-only commands
   * (status, runs) delete nothing.
   */
  writes?: boolean;
}

/** errno and SQLite codes that mean "this folder cannot be used", not a bug. */
const UNUSABLE = new Set([
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOTDIR",
  "EEXIST",
  "SQLITE_CANTOPEN",
  "SQLITE_READONLY",
  "SQLITE_READONLY_DIRECTORY",
]);

/** Loads the config (from --config, FRESHMIRROR_CONFIG, ./freshmirror.yaml or the default) and opens the state. */
export async function openApp(
  configPath: string | undefined,
  io: CommandIo,
  options: OpenAppOptions = {},
): Promise<App> {
  const config = loadConfig(configPath, io.env, io.cwd);
  // The one logger of this process: JSON lines on the command's stderr.
  const logger = createLogger({ level: logLevelFrom(io.env, config.logLevel), destination: io.stderr });
  let app: App;
  try {
    app = await App.open(config, { logger });
  } catch (error) {
    throw asNotWritable(config.dataDir, error);
  }
  if (options.writes) {
    try {
      // A real write (this process's temp folder), then the sweep of what killed writers left.
      await app.blobs.prepareForWrites();
    } catch (error) {
      await app.close().catch(() => undefined);
      throw asNotWritable(config.dataDir, error);
    }
  }
  return app;
}

function asNotWritable(dataDir: string, error: unknown): unknown {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const code = (cause as NodeJS.ErrnoException).code ?? (error as NodeJS.ErrnoException).code;
  if (code === undefined || !UNUSABLE.has(code)) return error;
  const path = (cause as NodeJS.ErrnoException).path ?? dataDir;
  return new StoreNotWritableError(dataDir, `${code} on ${path}`, hintFor(dataDir, code), error);
}

/** What to do about it: who owns the folder and who freshmirror runs as. */
function hintFor(dataDir: string, code: string): string {
  if (code === "EROFS" || writeErrno(dataDir) === "EROFS") {
    return `${dataDir} is on a read-only file system; mount it read-write or choose another data_dir`;
  }
  let owner = "";
  try {
    const stat = statSync(dataDir);
    if (!stat.isDirectory()) return `${dataDir} is a file, not a folder; set data_dir to a folder`;
    owner = `${dataDir} is owned by uid ${stat.uid}:${stat.gid} with mode ${(stat.mode & 0o7777).toString(8)}; `;
  } catch {
    // Not there (a parent is unusable): say who we are.
  }
  let user = `uid ${process.getuid?.() ?? "?"}`;
  try {
    user = `${userInfo().username} (${user})`;
  } catch {
    // No passwd entry for this uid (common in containers).
  }
  return `${owner}freshmirror runs as ${user}; make data_dir writable by that user (and not immutable: lsattr), or set data_dir to a folder it can write`;
}

/** What writing a file into `dir` fails with, if it does (SQLite does not say why it could not open). */
function writeErrno(dir: string): string | undefined {
  const probe = join(dir, `.freshmirror-write-probe-${process.pid}`);
  try {
    writeFileSync(probe, "");
    unlinkSync(probe);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}
