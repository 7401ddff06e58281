import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import type { MirrorConfig } from "../config/schema.js";
import { type RunRow, StateStore } from "../store/state-store.js";
import { collectMirrorStatuses, effectiveState, lagHistory, MirrorStatusCache } from "./mirror-status.js";

const H = 3_600_000;

test("states: disabled and paused come from the config or the API; a sync in progress shows over paused", () => {
  const mirrors = parseConfigText(
    "mirrors:\n  a: { type: pypi, upstream: https://u.example }\n  b: { type: pypi, upstream: https://u.example, paused: true }\n  c: { type: pypi, upstream: https://u.example, disabled: true }\n",
    "t",
  ).mirrors;
  const [plain, paused, disabled] = mirrors as [MirrorConfig, MirrorConfig, MirrorConfig];
  const row = {
    name: "a",
    state: "success" as const,
    lastSuccessAt: 1,
    lastAttemptAt: 1,
    lastEndedAt: 1,
    nextRunAt: null,
    lastError: null,
    paused: false,
    lastScheduledAt: null,
    pausedAt: null,
  };
  assert.equal(effectiveState(plain, row), "success");
  assert.equal(effectiveState(plain, { ...row, paused: true }), "paused");
  assert.equal(effectiveState(paused, row), "paused");
  assert.equal(effectiveState(paused, { ...row, state: "syncing" }), "syncing");
  assert.equal(effectiveState(disabled, { ...row, state: "syncing" }), "disabled");
  assert.equal(effectiveState(plain, undefined), "none");
});

test("lag: the age of the last full sync's start unwatched; the oldest pending change when watched", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-status-"));
  const state = new StateStore(join(dir, "state.sqlite"));
  try {
    const config = parseConfigText(
      "mirrors:\n  plain: { type: pypi, upstream: https://u.example }\n  watched: { type: pypi, upstream: https://u.example, watch: 2m }\n  proxy: { type: pypi, upstream: https://u.example, mode: proxy }\n",
      "t",
    );
    const now = 1_700_000_000_000;
    for (const name of ["plain", "watched", "proxy"]) {
      const id = await state.runs.start(name, "sync", null, now - 10 * H, null);
      await state.runs.finish(id, { outcome: "success" }, now - 9 * H);
      const project = await state.runs.start(name, "sync", "torch", now - 2 * H, null);
      await state.runs.finish(project, { outcome: "success" }, now - 2 * H + 1000);
      await state.mirrors.update(name, { state: "success", lastSuccessAt: now - 2 * H + 1000 });
    }
    const lag = state.lag;
    await lag.recordChange("watched", "simple", "torch", now - 30 * 60_000);
    const [plain, watched, proxy] = await collectMirrorStatuses(config, state, now);
    assert.equal(plain?.lagMs, 10 * H, "a one-project run does not reset a mirror's lag");
    assert.equal(plain?.lagBasis, "last-sync");
    assert.equal(watched?.lagMs, 30 * 60_000);
    assert.equal(watched?.lagBasis, "watch");
    assert.equal(proxy?.lagMs, null);
    assert.equal(proxy?.lagLevel, null);
    assert.equal(plain?.lagLevel, "ok");
    await lag.recordPublished("watched", null, now - 60_000, now - 1000, null);
    assert.equal((await collectMirrorStatuses(config, state, now))[1]?.lagMs, 0, "nothing pending: no lag");
    assert.equal((await collectMirrorStatuses(config, state, now + 20 * H))[0]?.lagLevel, "warn");
    assert.equal((await collectMirrorStatuses(config, state, now + 70 * H))[0]?.lagLevel, "critical");
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lag history from runs is a sawtooth: up to each publish, then down to that run's duration", () => {
  const r = (
    id: number,
    start: number,
    end: number,
    outcome: RunRow["outcome"] = "success",
    project: string | null = null,
  ) => ({ id, startedAt: start * H, endedAt: end * H, outcome, project }) as RunRow;
  const points = lagHistory(
    [r(1, 0, 1), r(2, 5, 6, "failed"), r(3, 10, 11, "success", "torch"), r(4, 24, 25)],
    30 * H,
  );
  assert.deepEqual(
    points.map((p) => [p.at / H, p.lagMs / H]),
    [
      [1, 1],
      [25, 25],
      [25, 1],
      [30, 6],
    ],
  );
});

test("the status cache reads the database again only when it changed, and moves the lag with the clock", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-status-"));
  const state = new StateStore(join(dir, "state.sqlite"));
  const other = new StateStore(join(dir, "state.sqlite"));
  try {
    const config = parseConfigText("mirrors:\n  m: { type: pypi, upstream: https://u.example }\n", "t");
    const now = 1_700_000_000_000;
    const id = await state.runs.start("m", "sync", null, now - H, null);
    await state.runs.finish(id, { outcome: "success" }, now - H + 1000);
    await state.mirrors.update("m", { state: "success", lastSuccessAt: now - H + 1000 });
    const cache = new MirrorStatusCache(config, state);
    const first = await cache.get(now);
    assert.equal(first[0]?.lagMs, H);
    assert.equal(await cache.get(now), first, "same moment, nothing written: the same reading");
    assert.equal((await cache.get(now + 2 * H))[0]?.lagMs, 3 * H, "the lag moves with the clock");
    await state.mirrors.update("m", { state: "failed" });
    assert.equal((await cache.get(now))[0]?.state, "failed", "a write by this connection is seen at once");
    await other.mirrors.update("m", { state: "syncing" });
    assert.equal((await cache.get(now))[0]?.state, "syncing", "a write by another process is seen at once");
  } finally {
    other.close();
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
