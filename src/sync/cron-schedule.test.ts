import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import { ConfigError } from "../errors.js";
import { describeSchedule, nextSlot } from "./cron-schedule.js";

// Cron is read in the server's local time: pin a zone with no daylight saving time so the
// expected instants are exact wherever the tests run (Node reads TZ afresh when it changes).
process.env.TZ = "Asia/Shanghai";

const utc = (iso: string) => Date.parse(iso);

test("a cron schedule fires at its local time: 0 2 * * * in UTC+8 is 18:00 UTC the day before", () => {
  const schedule = { kind: "cron", expression: "0 2 * * *" } as const;
  // 2025-01-01 08:00 local: the next 02:00 local is 2025-01-02 02:00 local.
  assert.equal(nextSlot(schedule, utc("2025-01-01T00:00:00Z"), null), utc("2025-01-01T18:00:00Z"));
  // Strictly after: at the slot itself, the next one is a day later.
  assert.equal(
    nextSlot(schedule, utc("2025-01-01T18:00:00Z"), utc("2025-01-01T18:00:00Z")),
    utc("2025-01-02T18:00:00Z"),
  );
  assert.equal(nextSlot(schedule, utc("2025-01-01T17:59:59.500Z"), null), utc("2025-01-01T18:00:00Z"));
  const weekly = { kind: "cron", expression: "30 4 * * 1" } as const; // Mondays 04:30 local
  assert.equal(nextSlot(weekly, utc("2025-01-01T00:00:00Z"), null), utc("2025-01-05T20:30:00Z"));
});

test("a cron expression that never fires again has no next slot", () => {
  assert.equal(nextSlot({ kind: "cron", expression: "0 0 30 2 *" }, Date.now(), null), null);
});

test("intervals lie on a grid anchored at the last slot run, and never return the anchor itself", () => {
  const every6h = { kind: "interval", everyMs: 6 * 3_600_000 } as const;
  const anchor = utc("2025-01-01T00:00:00Z");
  assert.equal(nextSlot(every6h, anchor, anchor), utc("2025-01-01T06:00:00Z"));
  assert.equal(nextSlot(every6h, utc("2025-01-01T07:00:00Z"), anchor), utc("2025-01-01T12:00:00Z"));
  // After a clock jump backward the anchor is ahead of now: still the slot after the anchor.
  assert.equal(nextSlot(every6h, utc("2024-12-31T22:00:00Z"), anchor), utc("2025-01-01T06:00:00Z"));
  // Never scheduled: one interval from now.
  assert.equal(nextSlot(every6h, anchor, null), utc("2025-01-01T06:00:00Z"));
});

test("schedules describe themselves for the status page", () => {
  assert.equal(describeSchedule({ kind: "cron", expression: "0 2 * * *" }), "0 2 * * * (local time)");
  assert.equal(describeSchedule({ kind: "interval", everyMs: 6 * 3_600_000 }), "every 6h");
  assert.equal(describeSchedule({ kind: "interval", everyMs: 90_000 }), "every 90s");
});

test("a bad cron or interval is a config error naming the mirror and the value", () => {
  for (const bad of ["dayly", "0 2 * *", "61 2 * * *", "500ms"]) {
    const yaml = `mirrors:\n  pytorch:\n    type: pypi\n    upstream: https://download.pytorch.org\n    schedule: "${bad}"\n`;
    assert.throws(
      () => parseConfigText(yaml, "test.yaml"),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        const problem = error.problems.find((p) => p.startsWith("mirrors.pytorch.schedule:"));
        assert.ok(problem, `a problem names mirrors.pytorch.schedule: ${error.problems.join("; ")}`);
        assert.ok(problem.includes(JSON.stringify(bad)), `the problem quotes ${bad}: ${problem}`);
        return true;
      },
    );
  }
});

test("scheduling fields have defaults and parse durations", () => {
  const config = parseConfigText(
    "mirrors:\n  a: { type: pypi, upstream: https://pypi.org }\n  b: { type: pypi, upstream: https://pypi.org, schedule: 6h, jitter: 10m, retry: { count: 4, backoff: 30s }, catch_up: false, lag_warn: 2h, lag_critical: 12h }\n",
    "test.yaml",
  );
  const [a, b] = config.mirrors;
  assert.deepEqual(a?.schedule, { kind: "cron", expression: "0 2 * * *" });
  assert.equal(a?.jitterMs, 0);
  assert.deepEqual(a?.syncRetry, { count: 2, backoffMs: 300_000 });
  assert.equal(a?.catchUp, true);
  assert.equal(a?.lagWarnMs, 86_400_000);
  assert.equal(a?.lagCriticalMs, 3 * 86_400_000);
  assert.deepEqual(b?.schedule, { kind: "interval", everyMs: 6 * 3_600_000 });
  assert.equal(b?.jitterMs, 600_000);
  assert.deepEqual(b?.syncRetry, { count: 4, backoffMs: 30_000 });
  assert.equal(b?.catchUp, false);
  assert.equal(b?.lagWarnMs, 7_200_000);
  assert.equal(b?.lagCriticalMs, 43_200_000);
});
