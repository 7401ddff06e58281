import assert from "node:assert/strict";
import { test } from "node:test";
import type { LockHolder, RunRow } from "../store/state-repositories.js";
import { gcCutoff } from "./gc-cutoff.js";

const run = (mirror: string, startedAt: number) => ({ mirror, startedAt }) as RunRow;
const holder = (pid: number): LockHolder => ({ pid, hostname: "here", acquiredAt: 0, start: null });

test("gc's cutoff: gc_grace ago, or the start of the oldest sync whose holder is alive, whichever is earlier", async () => {
  const holders = new Map<string, LockHolder>([
    ["sync:alive", holder(1)],
    ["sync:dead", holder(2)],
  ]);
  const locks = {
    holder: async (name: string) => holders.get(name),
    isHolderAlive: async (h: LockHolder) => h.pid === 1,
  };
  const state = (runs: RunRow[]) => ({ runs: { running: async () => runs }, locks });
  assert.equal(await gcCutoff(state([]), 10_000, 1_000), 9_000, "no sync running: gc_grace ago");
  assert.equal(
    await gcCutoff(state([run("alive", 5_000)]), 10_000, 1_000),
    5_000,
    "a sync running since before that holds its blobs back",
  );
  assert.equal(
    await gcCutoff(state([run("alive", 9_500)]), 10_000, 1_000),
    9_000,
    "a younger one changes nothing",
  );
  assert.equal(
    await gcCutoff(state([run("dead", 2_000), run("gone", 3_000), run("alive", 5_000)]), 10_000, 1_000),
    5_000,
    "runs whose process died (holder dead, or lock released) hold nothing back",
  );
});
