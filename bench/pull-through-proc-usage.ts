// What a process has used so far, from /proc (Linux): CPU time from /proc/<pid>/stat and read /
// write system calls from /proc/<pid>/io. Deltas around a batch are steadier than wall-clock
// figures when other work shares the machine.
import { readFileSync } from "node:fs";

export interface ProcessUsage {
  /** User + system CPU seconds. */
  cpuSeconds: number;
  /** read-family system calls (files and sockets). */
  readCalls: number;
  /** write-family system calls (files and sockets). */
  writeCalls: number;
  /** Bytes passed to read-family calls. */
  readBytes: number;
  /** Bytes passed to write-family calls. */
  writeBytes: number;
}

/** USER_HZ: 100 on every Linux build this runs on (sysconf(_SC_CLK_TCK) is not reachable from node). */
const CLOCK_TICKS = 100;

function ioField(io: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(io);
  return match ? Number(match[1]) : Number.NaN;
}

export function processUsage(pid: number): ProcessUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces and parentheses): state is field 3,
  // utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]);
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  return {
    cpuSeconds: ticks / CLOCK_TICKS,
    readCalls: ioField(io, "syscr"),
    writeCalls: ioField(io, "syscw"),
    readBytes: ioField(io, "rchar"),
    writeBytes: ioField(io, "wchar"),
  };
}

export function usageDelta(before: ProcessUsage, after: ProcessUsage): ProcessUsage {
  return {
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    readCalls: after.readCalls - before.readCalls,
    writeCalls: after.writeCalls - before.writeCalls,
    readBytes: after.readBytes - before.readBytes,
    writeBytes: after.writeBytes - before.writeBytes,
  };
}
