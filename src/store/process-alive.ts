// Whether a process recorded earlier (in a temp folder's name, in a lock row) is still the same
// running process. A pid alone cannot say: pids are reused, and in a container freshmirror is
// PID 1 on every start, so a leftover from the previous run carries a pid that is "alive" (ours).
// A process is therefore identified by its pid plus its start time (field 22 of /proc/<pid>/stat,
// clock ticks since boot, see proc(5)) and the boot it started in (/proc/sys/kernel/random/boot_id).

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/** Whether a process with this pid exists on this machine (EPERM means it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A process's start time in clock ticks since boot, or undefined without /proc (or no such pid). */
export function processStartTime(pid: number, procRoot = "/proc"): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = fields[22 - 3];
  return start !== undefined && /^\d+$/.test(start) ? start : undefined;
}

/** This boot of the machine (8 hex digits), or "00000000" where the kernel does not say. */
export function bootId(procRoot = "/proc"): string {
  try {
    const id = readFileSync(`${procRoot}/sys/kernel/random/boot_id`, "utf8").replace(/-/g, "").trim();
    return /^[0-9a-f]{8,}$/.test(id) ? id.slice(0, 8) : "00000000";
  } catch {
    return "00000000";
  }
}

/** A short, name-safe digest of this machine's host name (data_dir may be shared between hosts). */
export function hostTag(name = hostname()): string {
  return createHash("sha256").update(name).digest("hex").slice(0, 6);
}

export interface ProcessIdentity {
  host: string;
  boot: string;
  pid: number;
  /** Clock ticks since boot, "0" when unknown (no /proc). */
  start: string;
}

let self: ProcessIdentity | undefined;

/** This process's identity, computed once. */
export function selfIdentity(): ProcessIdentity {
  self ??= { host: hostTag(), boot: bootId(), pid: process.pid, start: processStartTime(process.pid) ?? "0" };
  return self;
}

/**
 * "dead" when the recorded process provably no longer runs on this host, "alive" when it may
 * (including when it is on another host, which this one cannot see).
 */
export function recordedProcessState(recorded: ProcessIdentity, current = selfIdentity()): "alive" | "dead" {
  if (recorded.host !== current.host) return "alive";
  if (recorded.boot !== current.boot) return "dead"; // the machine restarted since
  if (recorded.pid === current.pid) return recorded.start === current.start ? "alive" : "dead";
  if (!isProcessAlive(recorded.pid)) return "dead";
  // Alive under that pid: the same process only if it started at the same tick.
  const start = processStartTime(recorded.pid);
  if (start === undefined || recorded.start === "0") return "alive";
  return start === recorded.start ? "alive" : "dead";
}
