// What gc may consider old: unused for gc_grace, and unused since the oldest sync still running
// started. A sync records what it downloads (and claims what it reuses) long before it publishes
// the snapshot listing it; a sync of the torch variants over a slow link can outlast gc_grace,
// and its blobs must not go before it publishes. A run left "running" by a process that died
// holds nothing back (its lock holder is gone).
import type { RunRepository, SyncLocks } from "../store/state-repositories.js";
import { syncLockName } from "./run-lifecycle.js";

export async function gcCutoff(
  state: { runs: Pick<RunRepository, "running">; locks: Pick<SyncLocks, "holder" | "isHolderAlive"> },
  now: number,
  graceMs: number,
): Promise<number> {
  let cutoff = now - graceMs;
  for (const run of await state.runs.running()) {
    if (run.startedAt >= cutoff) continue;
    const holder = await state.locks.holder(syncLockName(run.mirror));
    if (holder !== undefined && (await state.locks.isHolderAlive(holder))) cutoff = run.startedAt;
  }
  return cutoff;
}
