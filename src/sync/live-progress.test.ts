import assert from "node:assert/strict";
import { test } from "node:test";
import type { TransientEvent } from "../events/event-bus.js";
import { LiveProgress, progressFigures } from "./live-progress.js";

const MiB = 1024 * 1024;

test("sizes not known yet are estimated from the known ones, and said to be", () => {
  // 10 files, 4 sized (40 MiB): the 6 others count as 10 MiB each.
  const f = progressFigures(
    {
      phase: "download",
      filesDone: 2,
      filesTotal: 10,
      bytesDone: 20 * MiB,
      bytesTotal: 40 * MiB,
      filesUnsized: 6,
    },
    4000,
  );
  assert.equal(f.bytesTotal, 100 * MiB);
  assert.equal(f.exact, false);
  assert.equal(f.fraction, 0.2);
  assert.equal(f.etaMs, 16_000);
  const none = progressFigures(
    { phase: "download", filesDone: 0, filesTotal: 3, bytesDone: 0, bytesTotal: 0, filesUnsized: 3 },
    0,
  );
  assert.equal(none.etaMs, undefined, "nothing known: no ETA");
  assert.equal(none.exact, false);
});

test("progress events: throttled per mirror, phase changes and the end at once, the last figures not lost", async () => {
  let now = 1_000;
  const events: TransientEvent[] = [];
  const live = new LiveProgress({ publish: (e) => events.push(e), intervalMs: 40, now: () => now });
  live.start("m", 7, undefined);
  assert.equal(live.get("m")?.runId, 7);
  live.update("m", { phase: "index", filesDone: 0, filesTotal: 2, bytesDone: 0, bytesTotal: 0 });
  live.update("m", { phase: "index", filesDone: 1, filesTotal: 2, bytesDone: 0, bytesTotal: 0 });
  live.update("m", { phase: "download", filesDone: 0, filesTotal: 2, bytesDone: 0, bytesTotal: 2 * MiB });
  assert.deepEqual(
    events.map((e) => [e.phase, e.filesDone]),
    [
      ["index", 0],
      ["download", 0],
    ],
    "the second index report fell inside the interval; the phase change went out at once",
  );
  now += 1_000;
  live.update("m", { phase: "download", filesDone: 1, filesTotal: 2, bytesDone: MiB, bytesTotal: 2 * MiB });
  live.update("m", {
    phase: "download",
    filesDone: 1,
    filesTotal: 2,
    bytesDone: 1.5 * MiB,
    bytesTotal: 2 * MiB,
  });
  assert.equal(events.length, 3);
  assert.equal(live.get("m")?.bytesDone, 1.5 * MiB, "the API sees the latest figures at once");
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(events.length, 4, "the burst's last figures went out after the interval");
  assert.equal(events[3]?.bytesDone, 1.5 * MiB);
  assert.equal(events[3]?.rate, 1.5 * MiB, "1.5 MiB in the second since the downloads began");
  assert.equal(events[3]?.etaMs, 333);
  live.finish("m");
  assert.equal(events.at(-1)?.done, true);
  assert.equal(live.get("m"), undefined);
});
