import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration } from "../config/duration.js";
import {
  formatLocalTime,
  formatPageTime,
  formatRelative,
  formatSpan,
  PAGE_TIME_SCRIPT,
} from "./time-format.js";

test("local time with the zone offset, as tunasync writes it", () => {
  process.env.TZ = "America/New_York";
  assert.equal(formatLocalTime(Date.UTC(2025, 0, 15, 12, 0, 0)), "2025-01-15 07:00:00 -0500");
  assert.equal(formatLocalTime(Date.UTC(2025, 6, 15, 12, 0, 0)), "2025-07-15 08:00:00 -0400");
  process.env.TZ = "Asia/Kolkata";
  assert.equal(formatLocalTime(Date.UTC(2025, 0, 15, 12, 0, 0)), "2025-01-15 17:30:00 +0530");
});

test("relative times round to their unit", () => {
  const now = 1_700_000_000_000;
  assert.equal(formatRelative(now - 2000, now), "just now");
  assert.equal(formatRelative(now - 3 * 3_600_000, now), "3 h ago");
  assert.equal(formatRelative(now + 20 * 60_000, now), "in 20 min");
  assert.equal(formatRelative(now - 4 * 86_400_000 + 30_000, now), "4 d ago");
  assert.equal(formatSpan(59_400), "59 s");
  assert.equal(formatSpan(59_600), "1 min");
  assert.equal(formatDuration(3 * 3_600_000 + 12 * 60_000), "3 h 12 min");
  assert.equal(formatDuration(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
});

test("one duration format: milliseconds below a second for commands, whole seconds in tables and pages", () => {
  assert.equal(formatDuration(312), "312 ms");
  assert.equal(formatDuration(312, "s"), "0 s");
  assert.equal(formatDuration(1600, "s"), "2 s");
  assert.equal(formatDuration(65_000), "1 min 5 s");
  assert.equal(formatDuration(65_000, "s"), "1 min 5 s");
});

test("pages show one time format, in UTC whatever the zone", () => {
  process.env.TZ = "Asia/Kolkata";
  assert.equal(formatPageTime(Date.UTC(2026, 10, 25, 22, 59, 9)), "2026-11-25 22:59 UTC");
  process.env.TZ = "America/New_York";
  assert.equal(formatPageTime(Date.UTC(2026, 0, 5, 3, 4, 59)), "2026-01-05 03:04 UTC");
});

test("the browser's twin writes the same text as the server", () => {
  const script = `${PAGE_TIME_SCRIPT.split("function fmLocalize")[0]}; [fmTime(${Date.UTC(2026, 10, 25, 22, 59, 9)}), fmRelative(0, 3 * 3600000)]`;
  // The script's helpers need no DOM: evaluated as the browser would.
  const [time, relative] = new Function(`return (() => { ${script.replace(/; \[/, "; return [")} })()`)() as [
    string,
    string,
  ];
  assert.equal(time, formatPageTime(Date.UTC(2026, 10, 25, 22, 59, 9)));
  assert.equal(relative, formatRelative(0, 3 * 3_600_000));
});
