// Schedule slots: when a mirror's `schedule` next fires. Cron expressions are read in the
// server's local time (croner, 5 fields, as crontab(5)); intervals lie on a grid anchored at the
// slot the mirror last ran for, so "6h" stays on the same phase across restarts.
import { Cron } from "croner";
import type { Schedule } from "../config/schema.js";

const crons = new Map<string, Cron>();

function cronOf(expression: string): Cron {
  let cron = crons.get(expression);
  if (!cron) {
    cron = new Cron(expression, { paused: true });
    crons.set(expression, cron);
  }
  return cron;
}

/**
 * The first slot strictly after `after` (ms since the epoch) and, for intervals, after `anchor`, or null when the schedule never
 * fires again (a cron such as `0 0 30 2 *`). For intervals, slots are `anchor + k * every`; with
 * no anchor (never scheduled) the first slot is one interval after `after`.
 */
export function nextSlot(schedule: Schedule, after: number, anchor: number | null): number | null {
  if (schedule.kind === "interval") {
    // The anchor itself has run: the first usable slot is one interval after it.
    const base = anchor ?? after;
    return base + schedule.everyMs * Math.max(1, Math.floor((after - base) / schedule.everyMs) + 1);
  }
  return cronOf(schedule.expression).nextRun(new Date(after))?.getTime() ?? null;
}

/** "0 2 * * * (local time)" or "every 6h", as an operator would write it. */
export function describeSchedule(schedule: Schedule): string {
  if (schedule.kind === "cron") return `${schedule.expression} (local time)`;
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ];
  for (const [unit, ms] of units) {
    if (schedule.everyMs % ms === 0) return `every ${schedule.everyMs / ms}${unit}`;
  }
  return `every ${schedule.everyMs}ms`;
}
