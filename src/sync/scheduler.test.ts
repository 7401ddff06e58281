// The scheduler with fake timers (node:test mock.timers, Date included): no sleeps, exact times.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import type { MirrorConfig } from "../config/schema.js";
import { SyncRefusedError } from "../errors.js";
import { createLogger } from "../logging/logger.js";
import { StateStore } from "../store/state-store.js";
import { type RunReason, type ScheduledRunResult, Scheduler } from "./scheduler.js";

process.env.TZ = "Asia/Shanghai"; // cron in local time; UTC+8 with no DST keeps instants exact

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse("2025-03-01T00:00:00Z"); // 08:00 local

interface Call {
  mirror: string;
  reason: RunReason;
  project: string | undefined;
  at: number;
  resolve(result: ScheduledRunResult): void;
}

function mirrors(yamlMirrors: string): MirrorConfig[] {
  return [...parseConfigText(`mirrors:\n${yamlMirrors}`, "test.yaml").mirrors];
}

/** Lets promise callbacks (run completions) settle; setImmediate is not faked. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("scheduler", () => {
  let dir: string;
  let state: StateStore;
  let calls: Call[];
  let logs: string[];
  let schedulers: Scheduler[];
  /** When set, runs end at once with this result; otherwise the test resolves them. */
  let autoResult: ScheduledRunResult | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "fm-sched-"));
    state = new StateStore(join(dir, "state.sqlite"));
    calls = [];
    logs = [];
    schedulers = [];
    autoResult = { outcome: "success" };
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: T0 });
  });

  afterEach(async () => {
    for (const call of calls) call.resolve({ outcome: "success" });
    await settle();
    for (const s of schedulers) await s.stop(0);
    mock.timers.reset();
    state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function scheduler(configs: MirrorConfig[], maxConcurrentSyncs = 2, random = () => 0): Scheduler {
    const s = new Scheduler({
      mirrors: configs,
      maxConcurrentSyncs,
      state,
      random,
      // The log lines' messages, as JSON lines through the real logger.
      logger: createLogger({
        level: "debug",
        destination: { write: (line: string) => logs.push((JSON.parse(line) as { msg: string }).msg) },
      }),
      runSync: (mirror, { project, reason }) =>
        new Promise<ScheduledRunResult>((resolve) => {
          calls.push({ mirror, reason, project, at: Date.now(), resolve });
          if (autoResult) resolve(autoResult);
        }),
    });
    schedulers.push(s);
    return s;
  }

  async function advance(ms: number, step = MIN): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      mock.timers.tick(Math.min(step, ms - done));
      await settle();
    }
  }

  test("an interval mirror runs every interval, on a grid, and records its next run", async () => {
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 6h }"));
    await s.start();
    assert.equal(
      (await state.mirrors.get("m")).nextRunAt,
      T0 + 6 * HOUR,
      "first run one interval after start",
    );
    await advance(6 * HOUR - MIN);
    assert.equal(calls.length, 0);
    await advance(MIN);
    assert.deepEqual(
      calls.map((c) => [c.reason, c.at]),
      [["schedule", T0 + 6 * HOUR]],
    );
    assert.equal((await state.mirrors.get("m")).lastScheduledAt, T0 + 6 * HOUR);
    assert.equal((await state.mirrors.get("m")).nextRunAt, T0 + 12 * HOUR);
    await advance(12 * HOUR);
    assert.deepEqual(
      calls.map((c) => c.at),
      [T0 + 6 * HOUR, T0 + 12 * HOUR, T0 + 18 * HOUR],
    );
  });

  test("a cron mirror runs at its local time (0 2 * * * in UTC+8 is 18:00 UTC)", async () => {
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example }")); // default 0 2 * * *
    await s.start();
    const first = Date.parse("2025-03-01T18:00:00Z");
    assert.equal((await state.mirrors.get("m")).nextRunAt, first);
    await advance(first - T0 + MIN, 30 * MIN);
    assert.deepEqual(
      calls.map((c) => c.at),
      [first],
    );
    assert.equal((await state.mirrors.get("m")).nextRunAt, first + DAY);
  });

  test("jitter delays each run by up to the jitter, after the slot", async () => {
    const s = scheduler(
      mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1h, jitter: 10m }"),
      2,
      () => 0.5,
    );
    await s.start();
    assert.equal((await state.mirrors.get("m")).nextRunAt, T0 + HOUR + 5 * MIN);
    await advance(HOUR + 5 * MIN);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.at, T0 + HOUR + 5 * MIN);
  });

  test("never two runs of one mirror at once: a slot that comes while it syncs is skipped", async () => {
    autoResult = undefined;
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 10m }"));
    await s.start();
    await advance(35 * MIN);
    assert.equal(calls.length, 1, "slots at 20 and 30 min were skipped while the 10 min run went on");
    assert.equal(logs.filter((l) => l.includes("skipped: the previous sync is still going")).length, 2);
    await assert.rejects(s.trigger("m"), SyncRefusedError, "an admin sync is refused while one runs");
    calls[0]?.resolve({ outcome: "success" });
    await settle();
    await advance(5 * MIN);
    assert.equal(calls.length, 2);
    assert.equal(calls[1]?.at, T0 + 40 * MIN);
  });

  test("two admin syncs asked for at once: one is queued, the other refused (no interleaving)", async () => {
    autoResult = undefined;
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 6h }"));
    await s.start();
    const [a, b] = await Promise.allSettled([s.trigger("m"), s.trigger("m")]);
    assert.deepEqual(a, { status: "fulfilled", value: { started: true, queuePosition: 0 } });
    assert.equal(b.status, "rejected");
    assert.ok(b.status === "rejected" && b.reason instanceof SyncRefusedError, String(b));
    await settle();
    assert.equal(calls.length, 1, "one run");
  });

  test("max_concurrent_syncs bounds running syncs; the rest wait as pre-syncing", async () => {
    autoResult = undefined;
    const s = scheduler(
      mirrors(
        ["a", "b", "c"]
          .map((n) => `  ${n}: { type: pypi, upstream: https://u.example, schedule: 1h }`)
          .join("\n"),
      ),
      2,
    );
    await s.start();
    await advance(HOUR);
    assert.deepEqual(
      calls.map((c) => c.mirror),
      ["a", "b"],
    );
    assert.equal((await state.mirrors.get("c")).state, "pre-syncing");
    assert.equal(s.status("c").queuePosition, 0);
    calls[1]?.resolve({ outcome: "success" });
    await settle();
    assert.deepEqual(
      calls.map((c) => c.mirror),
      ["a", "b", "c"],
    );
    assert.equal(s.runningCount, 2);
  });

  test("a failed scheduled run is retried with doubling backoff, then stays failed until its next slot", async () => {
    autoResult = { outcome: "failed", error: "upstream answered HTTP 503" };
    const s = scheduler(
      mirrors(
        "  m: { type: pypi, upstream: https://u.example, schedule: 1d, retry: { count: 2, backoff: 10m } }",
      ),
    );
    await s.start();
    await advance(DAY);
    assert.equal(calls.length, 1);
    assert.equal(
      (await state.mirrors.get("m")).nextRunAt,
      T0 + DAY + 10 * MIN,
      "the retry shows as the next run",
    );
    await advance(10 * MIN);
    await advance(20 * MIN);
    await advance(2 * HOUR);
    assert.deepEqual(
      calls.map((c) => [c.reason, c.at - T0 - DAY]),
      [
        ["schedule", 0],
        ["retry", 10 * MIN],
        ["retry", 30 * MIN],
      ],
    );
    assert.equal((await state.mirrors.get("m")).nextRunAt, T0 + 2 * DAY, "no more retries: the next slot");
    autoResult = { outcome: "success" };
    await advance(DAY);
    assert.equal(calls.length, 4);
    assert.equal(calls[3]?.reason, "schedule");
  });

  test("a manual (admin) sync is not retried", async () => {
    autoResult = { outcome: "failed", error: "boom" };
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1d }"));
    await s.start();
    assert.deepEqual(await s.trigger("m", "torch"), { started: true, queuePosition: 0 });
    await settle();
    await advance(2 * HOUR);
    assert.deepEqual(
      calls.map((c) => [c.reason, c.project]),
      [["manual", "torch"]],
    );
  });

  test("a run missed while the server was down runs at start with catch_up, and only once", async () => {
    const configs = mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1d }");
    await state.mirrors.update("m", { lastScheduledAt: T0 - 3 * DAY, lastAttemptAt: T0 - 3 * DAY });
    const s = scheduler(configs);
    await s.start();
    await settle();
    assert.deepEqual(
      calls.map((c) => [c.reason, c.at]),
      [["catch-up", T0]],
    );
    assert.equal(
      (await state.mirrors.get("m")).nextRunAt,
      T0 + DAY,
      "the interval grid restarts at the catch-up",
    );
    await advance(DAY - MIN);
    assert.equal(calls.length, 1);
  });

  test("without catch_up, a missed run waits for its next slot", async () => {
    await state.mirrors.update("m", {
      lastScheduledAt: T0 - 3 * DAY - HOUR,
      lastAttemptAt: T0 - 3 * DAY - HOUR,
    });
    const s = scheduler(
      mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1d, catch_up: false }"),
    );
    await s.start();
    await settle();
    assert.equal(calls.length, 0);
    assert.equal((await state.mirrors.get("m")).nextRunAt, T0 + DAY - HOUR, "the next slot on the old grid");
  });

  test("a missed slot already covered by a later sync (e.g. the CLI) is not caught up", async () => {
    await state.mirrors.update("m", { lastScheduledAt: T0 - 3 * DAY, lastAttemptAt: T0 - HOUR });
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1d }"));
    await s.start();
    await settle();
    assert.equal(calls.length, 0);
  });

  test("schedules survive a restart: the next run stays where it was", async () => {
    const configs = mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 6h }");
    const first = scheduler(configs);
    await first.start();
    await advance(6 * HOUR);
    assert.equal(calls.length, 1);
    await first.stop();
    await advance(2 * HOUR);
    const second = scheduler(configs);
    await second.start();
    assert.equal((await state.mirrors.get("m")).nextRunAt, T0 + 12 * HOUR);
    await advance(4 * HOUR);
    assert.deepEqual(
      calls.map((c) => c.at),
      [T0 + 6 * HOUR, T0 + 12 * HOUR],
    );
  });

  test("a clock jump backward never runs a slot twice, live or across a restart", async () => {
    const configs = mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1h }");
    const s = scheduler(configs);
    await s.start();
    await advance(HOUR);
    assert.equal(calls.length, 1);
    mock.timers.setTime(T0 + 30 * MIN); // the wall clock goes back 30 minutes
    await advance(40 * MIN);
    assert.equal(calls.length, 1, "the 1 h slot is not run again when the clock passes it a second time");
    await s.stop();
    mock.timers.setTime(T0 + 10 * MIN);
    const restarted = scheduler(configs);
    await restarted.start();
    await advance(55 * MIN);
    assert.equal(calls.length, 1, "nor after a restart with the clock behind");
    await advance(HOUR);
    assert.deepEqual(
      calls.map((c) => c.at),
      [T0 + HOUR, T0 + 2 * HOUR],
    );
  });

  test("a clock jump forward over several slots runs once, not once per slot", async () => {
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1h }"));
    await s.start();
    mock.timers.setTime(T0 + 3 * DAY + 10 * MIN);
    await advance(MIN);
    assert.equal(calls.length, 1);
    assert.equal((await state.mirrors.get("m")).nextRunAt, T0 + 3 * DAY + HOUR);
  });

  test("paused mirrors (config or API) and disabled mirrors do not run; resume restarts the schedule", async () => {
    const s = scheduler(
      mirrors(
        [
          "  a: { type: pypi, upstream: https://u.example, schedule: 1h, paused: true }",
          "  b: { type: pypi, upstream: https://u.example, schedule: 1h, disabled: true }",
          "  c: { type: pypi, upstream: https://u.example, schedule: 1h }",
          "  p: { type: pypi, upstream: https://u.example, mode: proxy }",
        ].join("\n"),
      ),
    );
    await s.start();
    await s.pause("c");
    assert.equal((await state.mirrors.get("c")).paused, true);
    assert.equal((await state.mirrors.get("c")).pausedAt, T0);
    for (const name of ["a", "b", "c", "p"])
      assert.equal((await state.mirrors.get(name)).nextRunAt, null, name);
    await advance(3 * HOUR);
    assert.equal(calls.length, 0);
    await assert.rejects(s.resume("a"), /paused in the config file/);
    await assert.rejects(s.trigger("b"), /disabled/);
    await s.resume("c");
    assert.equal((await state.mirrors.get("c")).paused, false);
    assert.equal(
      (await state.mirrors.get("c")).nextRunAt,
      T0 + 4 * HOUR,
      "slots missed while paused are not run",
    );
    await advance(HOUR);
    assert.deepEqual(
      calls.map((c) => c.mirror),
      ["c"],
    );
    assert.equal(s.status("p").scheduled, false, "proxy mirrors have no schedule");
  });

  test("a pause survives a restart", async () => {
    const configs = mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1h }");
    const first = scheduler(configs);
    await first.start();
    await first.pause("m");
    await first.stop();
    const second = scheduler(configs);
    await second.start();
    await advance(3 * HOUR);
    assert.equal(calls.length, 0);
    assert.equal((await state.mirrors.get("m")).nextRunAt, null);
  });

  test("a mirror left syncing by a stopped server is marked failed (interrupted) at start", async () => {
    const runId = await state.runs.start("m", "sync", null, T0 - HOUR, null);
    await state.mirrors.update("m", { state: "syncing", lastAttemptAt: T0 - HOUR });
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1d }"));
    await s.start();
    const row = await state.mirrors.get("m");
    assert.equal(row.state, "failed");
    assert.match(row.lastError ?? "", /stopped before it finished/);
    assert.equal((await state.runs.get(runId))?.outcome, "failed");
  });

  test("a watcher's sync request waits behind a running sync, merges with one queued, and is never dropped", async () => {
    autoResult = undefined;
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1d }"));
    await s.start();
    await s.trigger("m");
    assert.equal((await state.mirrors.get("m")).state, "pre-syncing");
    await state.mirrors.update("m", { state: "syncing" }); // what the runner does when it starts
    await s.requestSync("m", "torch");
    await s.requestSync("m", "torch");
    await s.requestSync("m", "torchvision");
    assert.equal(
      (await state.mirrors.get("m")).state,
      "syncing",
      "queued behind a running sync: still syncing",
    );
    assert.equal(s.queuedCount, 2, "the same project twice is one request");
    calls[0]?.resolve({ outcome: "success" });
    await settle();
    assert.deepEqual(
      calls.map((c) => [c.reason, c.project]),
      [
        ["manual", undefined],
        ["watch", "torch"],
      ],
    );
    await s.requestSync("m", undefined);
    assert.equal(s.queuedCount, 1, "a full sync request replaces the targeted ones queued");
    calls[1]?.resolve({ outcome: "success" });
    await settle();
    assert.deepEqual(
      calls.map((c) => c.project),
      [undefined, "torch", undefined],
    );
    calls[2]?.resolve({ outcome: "success" });
    await settle();
    await s.pause("m");
    await s.requestSync("m", "torch");
    assert.equal(s.queuedCount, 0, "ignored while paused");
  });

  test("a run that could not start (lock held elsewhere) puts the previous state back", async () => {
    autoResult = { outcome: "skipped", error: "held by pid 1" };
    await state.mirrors.update("m", { state: "success" });
    const s = scheduler(mirrors("  m: { type: pypi, upstream: https://u.example, schedule: 1h }"));
    await s.start();
    await advance(HOUR);
    assert.equal(calls.length, 1);
    assert.equal((await state.mirrors.get("m")).state, "success");
    assert.ok(logs.some((l) => l.includes("skipped: held by pid 1")));
  });
});
