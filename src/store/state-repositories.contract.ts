// The contract every state backend keeps, as one suite any implementation runs unchanged (SQLite
// today; PostgreSQL later), through the repository interfaces only. Modelled on undici's
// cache-store tests.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { blobAndManifestContract, digest, file, type WithRepos } from "./blob-manifest-records.contract.js";
import type { ProxyFileRow, ProxyPageRow, RunResult, StateRepositories } from "./state-repositories.js";

export interface StateFixture {
  repos: StateRepositories;
  cleanup(): Promise<void>;
}

function proxyFile(path: string, extra: Partial<ProxyFileRow> = {}): ProxyFileRow {
  return {
    mirror: "m",
    path,
    project: "demo",
    filename: path.split("/").pop() as string,
    upstreamUrl: `https://upstream.example/${path}`,
    sha256: null,
    hashSource: "index",
    size: null,
    metadataSha256: null,
    metadataOffered: false,
    otherHash: null,
    ...extra,
  };
}

export function runStateRepositoriesContract(name: string, make: () => Promise<StateFixture>): void {
  describe(`state repositories contract: ${name}`, () => {
    const withRepos: WithRepos = (title, body) =>
      test(title, async () => {
        const fixture = await make();
        try {
          await body(fixture.repos);
        } finally {
          await fixture.cleanup();
        }
      });

    withRepos(
      "mirrors: get creates a blank row, update sets given fields only, list creates none",
      async ({ mirrors }) => {
        assert.deepEqual(await mirrors.list(), []);
        const blank = await mirrors.get("m");
        assert.equal(blank.state, "none");
        assert.equal(blank.paused, false);
        assert.equal(blank.lastSuccessAt, null);
        await mirrors.update("m", { state: "success", lastSuccessAt: 5, paused: true, lastError: "boom" });
        await mirrors.update("m", { lastError: null, nextRunAt: undefined });
        const row = await mirrors.get("m");
        assert.deepEqual(
          {
            state: row.state,
            lastSuccessAt: row.lastSuccessAt,
            paused: row.paused,
            lastError: row.lastError,
          },
          { state: "success", lastSuccessAt: 5, paused: true, lastError: null },
        );
        await mirrors.update("other", { state: "failed" });
        assert.deepEqual(
          (await mirrors.list()).map((r) => [r.name, r.state]),
          [
            ["m", "success"],
            ["other", "failed"],
          ],
        );
      },
    );

    withRepos(
      "runs: start, log path, finish, newest-first pages, last full run, counts, abandon",
      async ({ runs }) => {
        const first = await runs.start("m", "sync", null, 1000, null);
        await runs.setLogPath(first, "/logs/m/1.log");
        const result: RunResult = { outcome: "success", filesAdded: 3, bytesAdded: 30, warnings: ["w"] };
        await runs.finish(first, result, 2000);
        const project = await runs.start("m", "sync", "torch", 3000, null);
        await runs.finish(project, { outcome: "success" }, 3500);
        const running = await runs.start("m", "sync", null, 4000, null);
        const other = await runs.start("n", "sync", null, 4000, null);
        const got = await runs.get(first);
        assert.ok(got);
        assert.deepEqual(
          [got.outcome, got.endedAt, got.filesAdded, got.bytesAdded, got.warnings, got.logPath],
          ["success", 2000, 3, 30, ["w"], "/logs/m/1.log"],
        );
        assert.equal((await runs.get(running))?.outcome, "running");
        assert.deepEqual(
          (await runs.list("m", 10)).map((r) => r.id),
          [running, project, first],
        );
        assert.deepEqual(
          (await runs.list("m", 1, running)).map((r) => r.id),
          [project],
        );
        assert.equal((await runs.lastFull("m", "success"))?.id, first, "a one-project run is not a full run");
        assert.equal(await runs.count("m"), 3);
        assert.deepEqual(
          (await runs.running()).map((r) => r.id),
          [running, other],
        );
        await runs.abandon("m", 5000, "the process running it exited");
        assert.deepEqual(
          (await runs.running()).map((r) => r.id),
          [other],
        );
        const abandoned = await runs.get(running);
        assert.deepEqual(
          [abandoned?.outcome, abandoned?.endedAt, abandoned?.error],
          ["failed", 5000, "the process running it exited"],
        );
        assert.equal((await runs.get(first))?.outcome, "success");
        const counts = (await runs.outcomeCounts()).sort((a, b) =>
          `${a.mirror}${a.outcome}`.localeCompare(`${b.mirror}${b.outcome}`),
        );
        assert.deepEqual(counts, [
          { mirror: "m", outcome: "failed", count: 1 },
          { mirror: "m", outcome: "success", count: 2 },
          { mirror: "n", outcome: "running", count: 1 },
        ]);
      },
    );

    withRepos("locks: one holder at a time, released by its holder, names independent", async ({ locks }) => {
      assert.equal(await locks.holder("sync:m"), undefined);
      assert.deepEqual(await locks.acquire("sync:m", 100), { tookOverFrom: null });
      const holder = await locks.holder("sync:m");
      assert.ok(holder);
      assert.equal(holder.pid, process.pid);
      assert.equal(holder.acquiredAt, 100);
      assert.equal(await locks.isHolderAlive(holder), true);
      await assert.rejects(locks.acquire("sync:m", 200), { code: "FM_ERR_SYNC_LOCKED" });
      assert.deepEqual(await locks.acquire("sync:other", 200), { tookOverFrom: null });
      await locks.release("sync:m");
      assert.equal(await locks.holder("sync:m"), undefined);
      assert.ok(await locks.holder("sync:other"));
      assert.deepEqual(await locks.acquire("sync:m", 300), { tookOverFrom: null });
    });

    withRepos("lag: a change counts once, until a sync that started after it publishes", async ({ lag }) => {
      assert.equal(await lag.lagMs("m", 10_000), 0);
      await lag.recordChange("m", "simple", "torch", 1000);
      await lag.recordChange("m", "simple", "torch", 2000);
      await lag.recordChange("m", "simple", "numpy", 3000);
      assert.equal(await lag.lagMs("m", 10_000), 9000);
      assert.equal(await lag.lagMs("m", 10_000, "numpy"), 7000);
      assert.equal(await lag.recordPublished("m", "torch", 1500, 6000, 7), 1, "one pending change of torch");
      assert.equal(await lag.lagMs("m", 10_000), 7000);
      assert.equal(
        await lag.recordPublished("m", null, 2500, 8000, 8),
        0,
        "numpy's change came after the run began",
      );
      assert.equal(await lag.recordPublished("m", null, 3500, 9000, 9), 1);
      assert.equal(await lag.lagMs("m", 10_000), 0);
      const history = await lag.history("m");
      assert.deepEqual(
        history.map((s) => [s.project, s.firstSeenAt, s.publishedAt, s.runId]),
        [
          ["numpy", 3000, 9000, 9],
          ["torch", 1000, 6000, 7],
        ],
      );
    });

    withRepos("lag: upstream checks keep the failing spell until a later success", async ({ lag }) => {
      assert.equal(await lag.check("m"), undefined);
      await lag.recordCheck("m", 100);
      await lag.recordCheck("m", 200, "HTTP 503");
      await lag.recordCheck("m", 300, "HTTP 502");
      assert.deepEqual(await lag.check("m"), {
        lastOkAt: 100,
        failingSince: 200,
        lastFailedAt: 300,
        lastError: "HTTP 502",
      });
      await lag.recordCheck("m", 150);
      const spell = (await lag.check("m"))?.failingSince;
      assert.equal(spell, 200, "a success from before the failures does not end them");
      await lag.recordCheck("m", 400);
      assert.deepEqual(await lag.check("m"), {
        lastOkAt: 400,
        failingSince: null,
        lastFailedAt: 300,
        lastError: null,
      });
      assert.deepEqual([...(await lag.allChecks()).keys()], ["m"]);
    });

    withRepos(
      "snapshots: publish makes indexes current, keeps generations, finds files",
      async ({ snapshots, blobs }) => {
        for (let n = 1; n <= 4; n++) await blobs.record(digest(n), 100 + n, "sync", 1);
        const before = await snapshots.changeStamp();
        const project = {
          name: "demo",
          displayName: "Demo",
          upstreamSerial: null,
          upstreamTimestamp: null,
          upstreamEtag: null,
        };
        const [first] = await snapshots.publish(
          "m",
          null,
          [{ idx: "simple", projects: [project], files: [file("a.whl", 1)] }],
          10,
        );
        assert.notEqual(await snapshots.changeStamp(), before);
        assert.equal(await snapshots.currentSnapshotId("m", "simple"), first);
        for (let generation = 2; generation <= 4; generation++) {
          await snapshots.publish(
            "m",
            null,
            [
              {
                idx: "simple",
                projects: [project],
                files: [file("a.whl", 1), file(`b${generation}.whl`, generation)],
              },
            ],
            10 * generation,
            2,
          );
        }
        const [current] = await snapshots.currentSnapshots("m");
        assert.ok(current);
        assert.deepEqual([current.fileCount, current.totalSize, current.publishedAt], [2, 101 + 104, 40]);
        const dropped = await snapshots.filesOfProject(first as number, "demo");
        assert.deepEqual(dropped, [], "old generations are dropped");
        assert.deepEqual(
          (await snapshots.filesOfProject(current.snapshotId, "demo")).map((f) => f.filename),
          ["a.whl", "b4.whl"],
        );
        assert.deepEqual(await snapshots.project(current.snapshotId, "demo"), project);
        assert.equal((await snapshots.fileByPath("m", "simple/demo/b4.whl"))?.sha256, digest(4));
        assert.equal(await snapshots.fileByPath("m", "simple/demo/b3.whl"), undefined);
        assert.equal(await snapshots.fileByPath("other", "simple/demo/b4.whl"), undefined);
        assert.deepEqual([...(await snapshots.allCurrentSnapshots()).keys()], ["m"]);
      },
    );

    withRepos(
      "snapshots: nothing is published while a listed blob or core metadata has no record",
      async ({ snapshots, blobs }) => {
        await blobs.record(digest(1), 101, "sync", 1);
        const [first] = await snapshots.publish(
          "m",
          null,
          [{ idx: "simple", projects: [], files: [file("a.whl", 1)] }],
          10,
        );
        for (const files of [
          [file("a.whl", 1), file("b.whl", 2)],
          [file("a.whl", 1, { metadataSha256: digest(3), metadataSize: 3, metadataSource: "extracted" })],
        ]) {
          await assert.rejects(
            snapshots.publish(
              "m",
              null,
              [
                { idx: "other", projects: [], files: [file("a.whl", 1)] },
                { idx: "simple", projects: [], files },
              ],
              20,
            ),
            (error: Error & { code?: string }) =>
              error.code === "FM_ERR_SYNC_BLOB_GONE" && /sha256:0+[23]\b/.test(error.message),
          );
          assert.equal(
            await snapshots.currentSnapshotId("m", "simple"),
            first,
            "the last good snapshot stays",
          );
          assert.equal(
            await snapshots.currentSnapshotId("m", "other"),
            undefined,
            "nor is any other index published",
          );
        }
      },
    );

    withRepos(
      "proxy cache: pages with opaque bodies, files, digests of unhashed files",
      async ({ proxyCache, blobs }) => {
        const body = new Uint8Array([31, 139, 8, 0, 1, 2, 3]);
        const row: ProxyPageRow = {
          mirror: "m",
          idx: "simple",
          project: "demo",
          fetchedAt: 100,
          status: 200,
          etag: '"v1"',
          lastModified: null,
          body,
        };
        await proxyCache.putPage(row, [proxyFile("simple/demo/a.whl", { sha256: digest(1), size: 101 })]);
        const page = await proxyCache.page("m", "simple", "demo");
        assert.ok(page);
        assert.deepEqual(Buffer.from(page.body as Uint8Array), Buffer.from(body));
        assert.equal((await proxyCache.pageMeta("m", "simple", "demo"))?.body, null);
        assert.equal((await proxyCache.pageMeta("m", "simple", "demo"))?.etag, '"v1"');
        await proxyCache.touchPage("m", "simple", "demo", 500);
        assert.equal((await proxyCache.pageMeta("m", "simple", "demo"))?.fetchedAt, 500);
        assert.equal(await proxyCache.page("m", "simple", "nothing"), undefined);
        assert.deepEqual(
          await proxyCache.file("m", "simple/demo/a.whl"),
          proxyFile("simple/demo/a.whl", { sha256: digest(1), size: 101 }),
        );

        // A file listed without a hash gets the digest of its downloaded bytes, which a later
        // listing without a hash does not erase.
        await proxyCache.putFiles([proxyFile("simple/demo/b.whl")]);
        await proxyCache.setDigest("m", "simple/demo/b.whl", digest(2), 102, "computed");
        await proxyCache.putFiles([proxyFile("simple/demo/b.whl")]);
        const b = await proxyCache.file("m", "simple/demo/b.whl");
        assert.deepEqual([b?.sha256, b?.size, b?.hashSource], [digest(2), 102, "computed"]);
        await proxyCache.setDigest("m", "simple/demo/b.whl", digest(3), 103, "computed");
        assert.equal(
          (await proxyCache.file("m", "simple/demo/b.whl"))?.sha256,
          digest(2),
          "a digest is not replaced",
        );

        await blobs.record(digest(1), 101, "fetch", 10);
        await blobs.record(digest(2), 102, "fetch", 5);
        await blobs.record(digest(3), 1000, "sync", 1);
        assert.equal(await proxyCache.fetchedBytes(), 203);
        assert.deepEqual(
          (await proxyCache.evictionCandidates(10)).map((c) => c.sha256),
          [digest(2), digest(1)],
        );
      },
    );

    blobAndManifestContract(withRepos);
  });
}
