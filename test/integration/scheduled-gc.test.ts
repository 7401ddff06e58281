// gc inside `serve`, on gc_schedule, beside syncs run by another process: blobs a snapshot stops
// listing go on their own, nothing a snapshot lists does, and the runs show in /metrics and the
// log. Real parts: the fixture upstream, `freshmirror serve` and `freshmirror sync`, real pip.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import {
  assertStoreIntact,
  blobPath,
  INDEX,
  MIRROR,
  servedView,
  startMirror,
  syncJson,
} from "../helpers/mirror-harness.js";
import { pipInstallNames } from "../helpers/pip.js";
import { metricSum, until } from "../helpers/until.js";

test("serve's scheduled gc removes what left every snapshot, beside syncs, and reports it in /metrics", async (t) => {
  const h = await startMirror({
    top: { gc_schedule: "1s", gc_grace: "0s" },
    extra: [{ index: INDEX, project: "demo", version: "0.9" }],
  });
  t.after(() => h.close());
  await until(() => /gc: every 1s, blobs unreferenced for 0 ms/.test(h.server.output()), "serve's gc line");
  const old = h.published.find((p) => p.filename.startsWith("demo-0.9-"));
  assert.ok(old);
  const oldBlobs = [old.sha256, old.metadataSha256];
  // Runs come and go while everything is listed: nothing is removed.
  await until(
    async () => (await metricSum(h.server.url, "freshmirror_gc_runs_total", { outcome: "success" })) >= 2,
    "two scheduled gc runs",
  );
  assert.equal(await metricSum(h.server.url, "freshmirror_gc_removed_blobs_total"), 0);
  for (const sha of oldBlobs) assert.ok(existsSync(blobPath(h.ws.dataDir, sha)));

  // The release leaves upstream; two syncs (the previous generation is kept once) while gc runs
  // every second in the server.
  assert.ok(h.upstream.unpublish(INDEX, old.filename));
  for (let i = 0; i < 2; i++) {
    const sync = await syncJson(h.ws);
    assert.equal(sync.result.code, 0, sync.result.stdout + sync.result.stderr);
  }
  const after = await servedView(h.server);
  assert.ok(!(old.filename in after.files));
  await until(
    async () => (await metricSum(h.server.url, "freshmirror_gc_removed_blobs_total")) >= 2,
    "the old wheel and its metadata removed by a scheduled run",
  );
  for (const sha of oldBlobs) assert.ok(!existsSync(blobPath(h.ws.dataDir, sha)), `removed: ${sha}`);
  assert.ok((await metricSum(h.server.url, "freshmirror_gc_freed_bytes_total")) >= old.size);
  assert.equal(await metricSum(h.server.url, "freshmirror_gc_runs_total", { outcome: "failed" }), 0);
  assert.ok((await metricSum(h.server.url, "freshmirror_gc_next_run_timestamp_seconds")) > 0);
  assert.match(h.server.output(), /"msg":"gc: 2 unreferenced blob\(s\) removed, \d+ bytes freed"/);
  const api = (await (await fetch(`${h.server.url}/api/v1/mirrors`)).json()) as {
    gc: { schedule: string; grace_seconds: number; runs: number; removed_blobs: number; next_run_at: string };
  };
  assert.equal(api.gc.schedule, "1s");
  assert.equal(api.gc.grace_seconds, 0);
  assert.ok(api.gc.runs >= 2 && api.gc.removed_blobs >= 2, JSON.stringify(api.gc));
  assert.ok(Date.parse(api.gc.next_run_at) > Date.now() - 5_000);
  const statusPage = await (await fetch(`${h.server.url}/`)).text();
  assert.match(statusPage, /id="gc">Unreferenced blobs .* are removed every 1s: last run/);
  assertStoreIntact(h.ws.dataDir);
  assert.deepEqual(await servedView(h.server), after, "every published file is still served");

  const installed = await pipInstallNames(`${h.server.url}/${MIRROR}/${INDEX}`, ["demo"]);
  assert.ok(installed.includes("demo-1.0.dist-info"), installed.join(" "));
});

test("a sync that outlasts gc_grace keeps what it downloaded until it publishes, with gc running every second", async (t) => {
  const h = await startMirror({ top: { gc_schedule: "1s", gc_grace: "0s" } });
  t.after(() => h.close());
  const [quick, slow] = await h.upstream.publishAll([
    { index: INDEX, project: "demo", version: "2.0" },
    { index: INDEX, project: "helper", version: "0.2", payloadBytes: 2 << 20 },
  ]);
  assert.ok(quick && slow);
  // The second file takes ~8 s: the first is stored, unlisted, for several gc runs.
  h.upstream.fault({ match: slow.filename, kind: "slowBody", bytesPerSecond: 256 << 10 });
  const runsBefore = await metricSum(h.server.url, "freshmirror_gc_runs_total", { outcome: "success" });
  const sync = await syncJson(h.ws);
  assert.equal(sync.result.code, 0, sync.result.stdout + sync.result.stderr);
  assert.equal(sync.report.filesAdded, 2);
  const runsDuring =
    (await metricSum(h.server.url, "freshmirror_gc_runs_total", { outcome: "success" })) - runsBefore;
  assert.ok(runsDuring >= 3, `gc ran ${runsDuring} times during the sync`);
  const view = await servedView(h.server);
  for (const file of [quick, slow]) {
    assert.ok(file.filename in view.files, `${file.filename} published`);
    assert.ok(existsSync(blobPath(h.ws.dataDir, file.sha256)), `${file.filename} stored`);
  }
  assertStoreIntact(h.ws.dataDir);
});
