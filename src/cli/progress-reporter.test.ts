import assert from "node:assert/strict";
import { test } from "node:test";
import type { SyncProgress } from "../sync/run-lifecycle.js";
import { describeProgress, ProgressReporter, progressBar, progressFigures } from "./progress-reporter.js";

const MiB = 1024 * 1024;
const download = (filesDone: number, bytesDone: number): SyncProgress => ({
  phase: "download",
  filesDone,
  filesTotal: 10,
  bytesDone,
  bytesTotal: 100 * MiB,
});

test("progress figures: fraction by bytes, rate since downloads began, ETA at that rate", () => {
  const f = progressFigures(download(3, 25 * MiB), 5000);
  assert.equal(f.fraction, 0.25);
  assert.equal(f.rate, 5 * MiB);
  assert.equal(f.etaMs, 15_000);
  assert.equal(progressFigures({ ...download(0, 0), bytesTotal: 0 }, 0).etaMs, undefined);
  assert.equal(
    progressFigures({ ...download(5, 0), bytesTotal: 0 }, 1000).fraction,
    0.5,
    "by files without sizes",
  );
});

test("the terminal line has a bar, files done/total, bytes, rate and ETA", () => {
  assert.equal(progressBar(0.5, 10), "[#####-----]");
  assert.equal(
    describeProgress(download(3, 25 * MiB), 5000, 10),
    "[###-------]  25%  files 3/10  25.0 MiB/100.0 MiB  5.00 MiB/s  ETA 15 s",
  );
  assert.equal(
    describeProgress(download(3, 25 * MiB), 5000),
    "progress: 25% files 3/10, 25.0 MiB/100.0 MiB, 5.00 MiB/s, ETA 15 s",
  );
});

test("on a terminal the line is redrawn at most every 200 ms, and cleared at the end", () => {
  let now = 0;
  const out: string[] = [];
  const r = new ProgressReporter({ tty: true, write: (t) => out.push(t), now: () => now, barWidth: 4 });
  r.update(download(0, 0));
  now = 100;
  r.update(download(1, 10 * MiB));
  now = 250;
  r.update(download(2, 20 * MiB));
  now = 260;
  r.update(download(10, 100 * MiB)); // complete: drawn at once
  r.finish();
  assert.equal(out.length, 4);
  assert.ok(out.slice(0, 3).every((line) => line.startsWith("\r\x1b[K[")));
  assert.match(out[2] ?? "", /files 10\/10/);
  assert.equal(out[3], "\r\x1b[K");
});

test("without a terminal, plain lines every 5 s and at each phase change, no escape codes", () => {
  let now = 0;
  const out: string[] = [];
  const r = new ProgressReporter({ tty: false, write: (t) => out.push(t), now: () => now });
  r.update({ phase: "index", filesDone: 0, filesTotal: 4, bytesDone: 0, bytesTotal: 0 });
  r.update({ phase: "index", filesDone: 4, filesTotal: 4, bytesDone: 0, bytesTotal: 0 });
  now = 1000;
  r.update(download(0, 0));
  for (let t = 1100; t < 12_000; t += 100) {
    now = t;
    r.update(download(Math.floor((t - 1000) / 1200), (t - 1000) * 1000));
  }
  now = 12_000;
  r.update({ ...download(10, 100 * MiB), phase: "publish" });
  r.finish();
  assert.deepEqual(
    out.map((l) => l.split(":")[0]?.split(" ")[0]),
    ["reading", "progress", "progress", "progress", "publishing"],
  );
  assert.ok(out.every((l) => l.endsWith("\n") && !l.includes("\x1b")));
});

test("without sizes in the index, the total is estimated as downloads answer (~), or ? before any does", () => {
  const unsized = (filesDone: number, bytesDone: number, bytesTotal: number, filesUnsized: number) =>
    describeProgress(
      { phase: "download", filesDone, filesTotal: 4, bytesDone, bytesTotal, filesUnsized },
      2000,
    );
  assert.equal(unsized(0, 0, 0, 4), "progress: 0% files 0/4, 0 B/?, 0 B/s, ETA ?");
  assert.equal(
    unsized(1, 2 * MiB, 4 * MiB, 2),
    "progress: 25% files 1/4, 2.00 MiB/~8.00 MiB, 1.00 MiB/s, ETA 6 s",
  );
  assert.equal(
    unsized(4, 8 * MiB, 8 * MiB, 0),
    "progress: 100% files 4/4, 8.00 MiB/8.00 MiB, 4.00 MiB/s, ETA 0 ms",
  );
});
