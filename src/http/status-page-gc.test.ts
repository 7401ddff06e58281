import assert from "node:assert/strict";
import { test } from "node:test";
import { mirrorStatusFixture } from "../../test/helpers/mirror-status-fixture.js";
import type { GcView } from "../sync/scheduled-gc.js";
import { gcToJson } from "./status-json.js";
import { renderStatusPage } from "./status-page.js";

const now = Date.UTC(2026, 10, 26, 12, 0, 0);
const gc: GcView = {
  schedule: { kind: "cron", expression: "15 3 * * *" },
  graceMs: 3_600_000,
  figures: {
    runs: 3,
    failedRuns: 1,
    removedBlobs: 12,
    freedBytes: 5 * 1024 ** 3,
    lastRunAt: now - 3_600_000,
    nextRunAt: now + 15 * 3_600_000,
  },
};

test("the status page says when gc runs, what it freed and when it runs next; or that it is off", () => {
  const page = renderStatusPage([mirrorStatusFixture()], { siteName: "m", now, gc });
  const line = /<p class="muted" id="gc">(.*?)<\/p>/s.exec(page)?.[1] ?? "";
  assert.match(line, /removed 15 3 \* \* \* \(local time\)/);
  assert.match(line, /12 blob\(s\) and 5\.00 GiB freed since start/);
  assert.match(line, /1 failed run\(s\)/);
  assert.match(line, new RegExp(`next <time datetime="${new Date(now + 15 * 3_600_000).toISOString()}"`));
  const off = renderStatusPage([mirrorStatusFixture()], { siteName: "m", now });
  assert.match(off, /removed only by <code>freshmirror gc<\/code> \(gc_schedule: off\)/);
});

test("the API's gc object: schedule, grace, last and next run, figures since start", () => {
  assert.deepEqual(gcToJson(gc), {
    schedule: "15 3 * * *",
    grace_seconds: 3600,
    last_run_at: new Date(now - 3_600_000).toISOString(),
    next_run_at: new Date(now + 15 * 3_600_000).toISOString(),
    runs: 3,
    failed_runs: 1,
    removed_blobs: 12,
    freed_bytes: 5 * 1024 ** 3,
  });
  assert.equal(gcToJson({ ...gc, schedule: { kind: "interval", everyMs: 21_600_000 } }).schedule, "6h");
});
