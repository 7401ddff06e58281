// The file system blob store's temp area: `<data_dir>/tmp/<folder of this process>/…`.
//
// A temp folder is named `fm-<host>-<boot>-<pid>-<start>-<instance>` (see process-alive.ts): the
// name is the marker, so the folder holds nothing but downloads in progress. Only commands that
// write (sync, serve, gc, verify --repair) sweep, and they remove only folders with that exact name
// shape whose process is provably gone: a pid alone is not proof (a container's freshmirror is
// PID 1 on every start), so the start time, the boot and this process's random instance id decide.
import { randomBytes } from "node:crypto";
import {
  isProcessAlive,
  type ProcessIdentity,
  recordedProcessState,
  selfIdentity,
} from "../process-alive.js";

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
