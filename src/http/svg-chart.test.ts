import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunRow } from "../store/state-store.js";
import { renderLagChart, renderRunsChart } from "./svg-chart.js";

function run(id: number, outcome: RunRow["outcome"], durationMs: number): RunRow {
  const startedAt = 1_700_000_000_000 + id * 3_600_000;
  return {
    id,
    mirror: "m",
    kind: "sync",
    project: null,
    startedAt,
    endedAt: outcome === "running" ? null : startedAt + durationMs,
    outcome,
    filesAdded: 1,
    filesRemoved: 0,
    bytesAdded: 0,
    bytesRemoved: 0,
    filesTotal: 1,
    bytesTotal: 0,
    upstreamRequests: 0,
    error: outcome === "failed" ? "boom <&>" : null,
    warnings: [],
    logPath: null,
  };
}

test("the runs chart draws at most 30 bars, newest on the right, coloured by outcome", () => {
  const runs = Array.from({ length: 45 }, (_, i) =>
    run(45 - i, i % 5 === 0 ? "failed" : "success", (i + 1) * 1000),
  );
  const svg = renderRunsChart(runs, Date.now());
  assert.equal(svg.match(/<rect class="bar /g)?.length, 30);
  assert.match(svg, /data-bars="30"/);
  assert.equal(svg.match(/class="bar bar-failed"/g)?.length, 6);
  const first = svg.indexOf("run #16 ");
  const last = svg.indexOf("run #45 ");
  assert.ok(first > 0 && last > first, "oldest of the 30 first, newest last");
  assert.ok(svg.includes("boom &#60;&#38;&#62;"), "titles are escaped");
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
});

test("a running run is drawn with its duration so far; no runs is a labelled empty chart", () => {
  const svg = renderRunsChart([run(1, "running", 0)], 1_700_000_000_000 + 3_600_000 + 60_000);
  assert.match(svg, /bar-running/);
  assert.match(svg, /so far/);
  assert.match(renderRunsChart([], Date.now()), /no runs yet/);
});

test("the lag chart draws the line and the thresholds in range", () => {
  const t = 1_700_000_000_000;
  const svg = renderLagChart(
    [
      { at: t, lagMs: 1000 },
      { at: t + 3_600_000, lagMs: 2 * 86_400_000 },
      { at: t + 7_200_000, lagMs: 60_000 },
    ],
    86_400_000,
    3 * 86_400_000,
  );
  assert.match(svg, /<path class="lag-line" d="M[\d.]+,[\d.]+ L[\d.]+,[\d.]+ L[\d.]+,[\d.]+"/);
  assert.equal(svg.match(/class="threshold"/g)?.length, 1, "warning drawn, critical out of range");
  assert.match(renderLagChart([], 1, 2), /no successful sync yet/);
});
