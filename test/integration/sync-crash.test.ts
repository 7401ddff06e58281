// The sync lock and crashes: a sync killed with SIGKILL in the middle of a download leaves
// nothing half-published, and the next run takes over its lock and completes; a second sync of a
// mirror that is syncing fails at once. Real CLI processes, the real server, the fixture upstream.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  assertStoreIntact,
  collect,
  INDEX,
  MIRROR,
  partialDownloadBytes,
  runRecords,
  servedFilenames,
  servedView,
  startMirror,
  syncJson,
  waitFor,
} from "../helpers/mirror-harness.js";

describe("sync lock and crashes", () => {
  test("kill -9 mid-download: nothing partial is served, the next run takes over the lock and completes, state is consistent", async (t) => {
    const h = await startMirror();
    t.after(() => h.close());
    // The list is what the status page shows, through the server's status cache.
    const serverMirror = async () => {
      const body = (await (await fetch(`${h.server.url}/api/v1/mirrors`)).json()) as {
        mirrors: { name: string; state: string; last_error: string | null }[];
      };
      return body.mirrors.find((m) => m.name === MIRROR);
    };
    const serverState = async () => (await serverMirror())?.state;
    const before = await servedView(h.server);
    const big = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      payloadBytes: 2 * 1024 * 1024,
    });
    const fileUrl = `${h.server.url}/${MIRROR}/${INDEX}/${big.filename}`;
    // About 8 s for the whole file: long enough to kill the sync in the middle of it.
    h.upstream.fault({ match: big.filename, kind: "slowBody", bytesPerSecond: 256 * 1024, times: 1 });
    h.upstream.clearLog();

    const child = h.ws.spawnCli(["sync", MIRROR]);
    const exited = collect(child);
    await waitFor(() => partialDownloadBytes(h.ws.dataDir) > 64 * 1024, "the download to be under way");
    assert.ok(partialDownloadBytes(h.ws.dataDir) < big.size, "killed in the middle of the file");
    assert.equal(runRecords(h.ws.dataDir).at(-1)?.outcome, "running");
    assert.equal(await serverState(), "syncing", "while it runs, serve says so");
    assert.deepEqual(await servedView(h.server), before, "while it runs, serve shows the previous snapshot");
    assert.equal((await fetch(fileUrl)).status, 404, "the file being downloaded is not served");

    child.kill("SIGKILL");
    const killed = await exited;
    assert.equal(killed.signal, "SIGKILL");
    // Nobody holds the lock any more: the server and `freshmirror status` say the run was
    // interrupted, instead of "syncing" until the next sync.
    const interrupted = new RegExp(`interrupted: the process running it \\(pid ${child.pid}\\) exited`);
    const api = await serverMirror();
    assert.equal(api?.state, "failed");
    assert.match(api?.last_error ?? "", interrupted);
    const status = await h.ws.cli(["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const shown = (
      JSON.parse(status.stdout) as { mirrors: { name: string; state: string; last_error: string | null }[] }
    ).mirrors.find((m) => m.name === MIRROR);
    assert.equal(shown?.state, "failed");
    assert.match(shown?.last_error ?? "", interrupted);
    assert.deepEqual(await servedView(h.server), before, "after the kill, still the previous snapshot");
    assert.equal((await fetch(fileUrl)).status, 404);
    assert.ok(
      readdirSync(join(h.ws.dataDir, "tmp")).some((d) =>
        new RegExp(`^fm-[0-9a-f]{6}-[0-9a-f]{8}-${child.pid}-`).test(d),
      ),
      "the killed process left its partial download behind",
    );

    const { result, report } = await syncJson(h.ws);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(report.outcome, "success");
    assert.equal(report.filesAdded, 1);
    const runs = runRecords(h.ws.dataDir);
    const killedRun = runs.at(-2);
    assert.equal(killedRun?.outcome, "failed", "the killed run is recorded as failed");
    assert.match(killedRun?.error ?? "", new RegExp(`pid ${child.pid}\\) exited before it finished`));
    assert.equal(runs.at(-1)?.id, report.runId);
    const log = readFileSync(runs.at(-1)?.logPath ?? "", "utf8");
    assert.match(log, new RegExp(`took over the lock of pid ${child.pid}`));
    assert.ok(
      !readdirSync(join(h.ws.dataDir, "tmp")).some((d) =>
        new RegExp(`^fm-[0-9a-f]{6}-[0-9a-f]{8}-${child.pid}-`).test(d),
      ),
      "the dead process's temp folder is swept",
    );

    assert.ok((await servedFilenames(h.server, "demo")).includes(big.filename));
    const served = await servedView(h.server);
    assert.equal(served.files[big.filename], big.sha256);
    assertStoreIntact(h.ws.dataDir);
    const verify = await h.ws.cli(["verify", MIRROR]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, / 0 problem/);
  });

  test("a second sync of a mirror that is syncing fails at once with FM_ERR_SYNC_LOCKED", async (t) => {
    const h = await startMirror();
    t.after(() => h.close());
    const big = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      payloadBytes: 1024 * 1024,
    });
    // About 16 s: the second sync must be refused long before the first could finish.
    h.upstream.fault({ match: big.filename, kind: "slowBody", bytesPerSecond: 64 * 1024, times: 1 });
    const runsBefore = runRecords(h.ws.dataDir).length;

    const first = h.ws.spawnCli(["sync", MIRROR]);
    const firstDone = collect(first);
    await waitFor(() => partialDownloadBytes(h.ws.dataDir) > 0, "the first sync to be downloading");

    const startedAt = Date.now();
    const second = await h.ws.cli(["sync", MIRROR]);
    const elapsed = Date.now() - startedAt;
    t.diagnostic(`the second sync was refused after ${elapsed} ms (CLI start included)`);
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.match(second.stderr, /a sync of mirror "pypi" is already running/);
    assert.match(second.stderr, new RegExp(`held by pid ${first.pid}\\b`));
    assert.match(second.stderr, /FM_ERR_SYNC_LOCKED/);
    // A CLI start takes about a second here, and up to five on a machine loaded by other test
    // files; the lock check itself is immediate. Waiting for the first sync would take 16 s.
    assert.ok(elapsed < 10_000, `failed at once, not after waiting for the first (${elapsed} ms)`);
    assert.ok(partialDownloadBytes(h.ws.dataDir) > 0, "the first sync was still running then");

    const done = await firstDone;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    const runs = runRecords(h.ws.dataDir);
    assert.equal(runs.length, runsBefore + 1, "the refused sync recorded no run");
    assert.equal(runs.at(-1)?.outcome, "success");
    assert.ok((await servedFilenames(h.server, "demo")).includes(big.filename));
  });
});
