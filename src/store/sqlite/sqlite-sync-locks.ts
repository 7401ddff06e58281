// Sync locks in SQLite: a row per held lock naming the holder process, taken over when that
// process is provably gone (see lock-holder.ts). Shared by every process using the database.
import { hostname } from "node:os";
import { SyncLockedError } from "../../errors.js";
import { isLockHolderAlive } from "../lock-holder.js";
import { selfIdentity } from "../process-alive.js";
import type { LockHolder, SyncLocks } from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

interface LockSql {
  pid: number;
  hostname: string;
  acquired_at: number;
  holder_start: string | null;
}

function toLockHolder(row: LockSql): LockHolder {
  return { pid: row.pid, hostname: row.hostname, acquiredAt: row.acquired_at, start: row.holder_start };
}

export class SqliteSyncLocks implements SyncLocks {
  readonly #db: SqliteDatabase;
  readonly #stmts;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#stmts = {
      getLock: db.prepare("SELECT * FROM locks WHERE name = ?"),
      putLock: db.prepare(
        "INSERT OR REPLACE INTO locks (name, pid, hostname, acquired_at, run_id, holder_start) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      releaseLock: db.prepare("DELETE FROM locks WHERE name = ? AND pid = ? AND hostname = ?"),
    };
  }

  /**
   * Takes the named lock for this process, across processes sharing the database. A lock whose
   * holder is gone (killed) is taken over. Throws SyncLockedError when a live process holds it.
   */
  async acquire(name: string, now: number): Promise<{ tookOverFrom: number | null }> {
    const host = hostname();
    return this.#db
      .transaction(() => {
        const held = this.#stmts.getLock.get(name) as LockSql | undefined;
        let tookOverFrom: number | null = null;
        if (held) {
          // This very process holding it counts as alive too: a second sync here must wait.
          if (isLockHolderAlive(toLockHolder(held))) {
            throw new SyncLockedError(
              name.replace(/^sync:/, ""), // the error names the mirror, not the lock
              `held by pid ${held.pid} on ${held.hostname} since ${new Date(held.acquired_at).toISOString()}`,
            );
          }
          tookOverFrom = held.pid;
        }
        const self = selfIdentity();
        this.#stmts.putLock.run(name, process.pid, host, now, null, `${self.boot}-${self.start}`);
        return { tookOverFrom };
      })
      .immediate();
  }

  /** Who holds the named lock, if anyone (alive or not). */
  async holder(name: string): Promise<LockHolder | undefined> {
    const held = this.#stmts.getLock.get(name) as LockSql | undefined;
    return held && toLockHolder(held);
  }

  async release(name: string): Promise<void> {
    this.#stmts.releaseLock.run(name, process.pid, hostname());
  }

  async isHolderAlive(holder: LockHolder): Promise<boolean> {
    return isLockHolderAlive(holder);
  }
}
