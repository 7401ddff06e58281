// Whether the process holding a sync lock may still run, from what the lock records about it.
import { hostname } from "node:os";
import { isProcessAlive, recordedProcessState, selfIdentity } from "./process-alive.js";
import type { LockHolder } from "./state-repositories.js";

/**
 * Whether the process holding a lock may still run. A holder on another host is taken to be alive
 * (this host cannot see its processes). Here, the pid must exist *and* have started at the
 * recorded time in this boot: a pid alone would say "alive" for a process that reused it, and for
 * a killed sync's lock read by the next container run, which is PID 1 again.
 */
export function isLockHolderAlive(holder: LockHolder): boolean {
  if (holder.hostname !== hostname()) return true;
  const self = selfIdentity();
  const recorded = /^([0-9a-f]{8})-(\d+)$/.exec(holder.start ?? "");
  if (!recorded) return holder.pid === process.pid || isProcessAlive(holder.pid);
  const identity = {
    host: self.host,
    boot: recorded[1] as string,
    pid: holder.pid,
    start: recorded[2] as string,
  };
  return recordedProcessState(identity, self) === "alive";
}
