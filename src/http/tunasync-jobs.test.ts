import assert from "node:assert/strict";
import { test } from "node:test";
import { mirrorStatusFixture } from "../../test/helpers/mirror-status-fixture.js";
import { approximateSize, GO_ZERO_TEXT, GO_ZERO_TS, tunasyncJobs } from "./tunasync-jobs.js";

process.env.TZ = "Asia/Shanghai";

test("a job carries tunasync's fields in its order, times as Go text in local time and Unix seconds", () => {
  const [job] = tunasyncJobs([mirrorStatusFixture()]);
  assert.deepEqual(job, {
    name: "pytorch",
    is_master: true,
    status: "success",
    last_update: "2025-03-01 10:10:05 +0800",
    last_update_ts: Math.floor(Date.UTC(2025, 2, 1, 2, 10, 5) / 1000),
    last_started: "2025-03-01 10:00:00 +0800",
    last_started_ts: Math.floor(Date.UTC(2025, 2, 1, 2, 0, 0) / 1000),
    last_ended: "2025-03-01 10:10:05 +0800",
    last_ended_ts: Math.floor(Date.UTC(2025, 2, 1, 2, 10, 5) / 1000),
    next_schedule: "2025-03-02 10:00:00 +0800",
    next_schedule_ts: Math.floor(Date.UTC(2025, 2, 2, 2, 0, 0) / 1000),
    upstream: "https://download.pytorch.org",
    size: "5.29G",
  });
});

test("times that never happened are Go's zero time; paused and disabled jobs have no schedule", () => {
  const [none, paused] = tunasyncJobs([
    mirrorStatusFixture({ state: "none", lastSuccessAt: null, lastAttemptAt: null, lastEndedAt: null }),
    mirrorStatusFixture({ state: "paused" }),
  ]);
  assert.equal(none?.last_update, GO_ZERO_TEXT);
  assert.equal(none?.last_update_ts, GO_ZERO_TS);
  assert.equal(none?.last_started_ts, GO_ZERO_TS);
  assert.equal(paused?.status, "paused");
  assert.equal(paused?.next_schedule, "0001-01-01 00:00:00 +0000");
  assert.equal(paused?.next_schedule_ts, -62135596800);
});

test("sizes read as tunasync workers report them", () => {
  assert.equal(approximateSize(0, 0), "unknown");
  assert.equal(approximateSize(0, 3), "0B");
  assert.equal(approximateSize(512, 1), "512B");
  assert.equal(approximateSize(1536, 1), "1.50K");
  assert.equal(approximateSize(25 * 1024 ** 2, 1), "25.0M");
  assert.equal(approximateSize(596 * 1024 ** 3, 1), "596G");
  assert.equal(approximateSize(1.62 * 1024 ** 4, 1), "1.62T");
});

test("a proxy mirror reads as success, updated now, not as never synced; paused stays paused", () => {
  const now = Date.UTC(2025, 2, 3, 4, 5, 6);
  const [proxy, pausedProxy] = tunasyncJobs(
    [
      mirrorStatusFixture({ mode: "proxy", state: "none", lastSuccessAt: null, lastAttemptAt: null }),
      mirrorStatusFixture({ mode: "proxy", state: "paused" }),
    ],
    now,
  );
  assert.equal(proxy?.status, "success");
  assert.equal(proxy?.last_update_ts, Math.floor(now / 1000));
  assert.equal(pausedProxy?.status, "paused");
});
