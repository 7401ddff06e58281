// Memory figures of a process from /proc/<pid>/status (Linux): VmHWM is the peak resident set
// since the process started, VmRSS the resident set now.
import { readFileSync } from "node:fs";

export interface ProcessMemory {
  /** Peak resident set, bytes. */
  peakRss: number;
  /** Resident set now, bytes. */
  rss: number;
}

function field(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

export function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return { peakRss: field(status, "VmHWM"), rss: field(status, "VmRSS") };
}
