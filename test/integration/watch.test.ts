// The watcher against the fixture upstream: unchanged pages cost one 304 each; a new release is
// seen at once and synced; an older page from a lagging node is ignored; lag is recorded.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { syncMirror } from "../../src/sync/run-lifecycle.js";
import { Watcher } from "../../src/sync/watcher.js";
import { type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";

describe("watch", () => {
  let upstream: PypiUpstream;
  let app: App;
  let dir: string;
  const projects = Array.from({ length: 50 }, (_, i) => `proj${i}`);

  before(async () => {
    upstream = await startPypiUpstream({ indexes: ["simple"] });
    await upstream.publishAll(projects.map((project) => ({ index: "simple", project, version: "1.0.0" })));
    dir = mkdtempSync(join(tmpdir(), "fm-watch-"));
    const config = parseConfigText(
      stringify({
        data_dir: join(dir, "data"),
        mirrors: {
          m: {
            type: "pypi",
            upstream: upstream.url,
            indexes: ["simple"],
            projects,
            watch: "1s",
            retry_backoff: "10ms",
          },
        },
      }),
      "test",
    );
    app = await App.open(config);
    const report = await syncMirror(app, "m");
    assert.equal(report.outcome, "success", report.error);
  });

  after(async () => {
    await app.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a cycle over 50 unchanged projects makes only conditional requests, each answered 304", async () => {
    const requested: string[] = [];
    const watcher = new Watcher(app, app.lag, {
      requestSync: (_m, p) => {
        requested.push(p);
      },
    });
    upstream.clearLog();
    const cycle = await watcher.pollOnce("m");
    assert.equal(cycle.pages, 50);
    assert.equal(cycle.notModified, 50);
    assert.deepEqual(cycle.changed, []);
    assert.deepEqual(requested, []);
    assert.equal(upstream.requests.length, 50, "one request per watched page");
    for (const request of upstream.requests) {
      assert.ok(
        request.headers["if-none-match"] || request.headers["if-modified-since"],
        `${request.path} is conditional`,
      );
      assert.equal(request.status, 304);
    }
    assert.equal(cycle.requests, 50);
    assert.equal(cycle.bytes, 0);
  });

  test("a new release is seen in the next cycle, its project alone is synced, and lag is recorded then cleared", async () => {
    const lag = app.lag;
    const syncs: Promise<unknown>[] = [];
    const watcher = new Watcher(app, lag, {
      requestSync: (mirror, project) => {
        syncs.push(syncMirror(app, mirror, { project }));
      },
    });
    await watcher.pollOnce("m");
    const fresh = await upstream.publish({ index: "simple", project: "proj7", version: "1.1.0" });
    const cycle = await watcher.pollOnce("m");
    assert.deepEqual(cycle.changed, [{ idx: "simple", project: "proj7" }]);
    assert.equal(cycle.notModified, 49);
    assert.ok((await lag.lagMs("m", Date.now())) >= 0);
    assert.equal(syncs.length, 1);
    await Promise.all(syncs);
    assert.equal(await lag.lagMs("m", Date.now()), 0, "published: no lag left");
    const [sample] = await lag.history("m", 1);
    assert.ok(sample?.publishedAt !== null && sample !== undefined);
    assert.equal(sample.project, "proj7");
    const snapshotId = await app.state.snapshots.currentSnapshotId("m", "simple");
    assert.ok(snapshotId !== undefined);
    const files = (await app.state.snapshots.filesOfProject(snapshotId, "proj7")).map((f) => f.filename);
    assert.ok(files.includes(fresh.filename), files.join(" "));
    // The next cycle sees nothing new.
    const quiet = await watcher.pollOnce("m");
    assert.deepEqual(quiet.changed, []);
  });
});
