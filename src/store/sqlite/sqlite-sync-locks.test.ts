import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SyncLockedError } from "../../errors.js";
import { isLockHolderAlive } from "../lock-holder.js";
import { selfIdentity } from "../process-alive.js";
import { StateStore } from "../state-store.js";
import { openSqliteDatabase } from "./sqlite-database.js";

/** A state store, and a second connection to its database to plant rows other processes left. */
function openState(): StateStore & { db: ReturnType<typeof openSqliteDatabase> } {
  const path = join(mkdtempSync(join(tmpdir(), "fm-lock-")), "state.sqlite");
  const state = new StateStore(path);
  const db = openSqliteDatabase(path);
  const close = state.close.bind(state);
  return Object.assign(state, {
    db,
    close: () => {
      db.close();
      close();
    },
  });
}

test("a lock left by an earlier process with our pid (PID 1 in a restarted container) is taken over", async (t) => {
  const state = openState();
  t.after(() => state.close());
  const self = selfIdentity();
  // What a killed sync of the previous container run left: same host, same pid, earlier start.
  state.db
    .prepare("INSERT INTO locks (name, pid, hostname, acquired_at, holder_start) VALUES (?, ?, ?, ?, ?)")
    .run("sync:m", process.pid, hostname(), 1, `${self.boot}-1`);
  const holder = await state.locks.holder("sync:m");
  assert.ok(holder);
  assert.equal(isLockHolderAlive(holder), false);
  assert.deepEqual(await state.locks.acquire("sync:m", 2), { tookOverFrom: process.pid });
  // Now it is ours, alive, and a second acquire in this process is refused.
  assert.equal(isLockHolderAlive((await state.locks.holder("sync:m")) as NonNullable<typeof holder>), true);
  await assert.rejects(state.locks.acquire("sync:m", 3), SyncLockedError);
});

test("a lock held on another host is never taken over", async (t) => {
  const state = openState();
  t.after(() => state.close());
  state.db
    .prepare("INSERT INTO locks (name, pid, hostname, acquired_at, holder_start) VALUES (?, ?, ?, ?, ?)")
    .run("sync:m", 999_999_999, `not-${hostname()}`, 1, "00000000-1");
  await assert.rejects(state.locks.acquire("sync:m", 2), SyncLockedError);
});
