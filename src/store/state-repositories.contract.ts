// The contract every state backend keeps, as one suite any implementation runs unchanged (SQLite
// today; PostgreSQL later), through the repository interfaces only. Modelled on undici's
// cache-store tests.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type {
  FileRecord,
  ProxyFileRow,
  ProxyPageRow,
  RunResult,
  StateRepositories,
  TagRow,
} from "./state-repositories.js";

export interface StateFixture {
  repos: StateRepositories;
  cleanup(): Promise<void>;
}

const digest = (n: number) => n.toString(16).padStart(64, "0");

function file(name: string, sha: number, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    path: `simple/demo/${name}`,
    project: "demo",
    filename: name,
    upstreamUrl: `https://upstream.example/${name}`,
    sha256: digest(sha),
    size: 100 + sha,
    hashSource: "index",
    requiresPython: null,
    yanked: null,
    uploadTime: null,
    metadataSha256: null,
    metadataSize: null,
    metadataSource: null,
    ...extra,
  };
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
    ...extra,
  };
}

export function runStateRepositoriesContract(name: string, make: () => Promise<StateFixture>): void {
  describe(`state repositories contract: ${name}`, () => {
    const withRepos = (title: string, body: (repos: StateRepositories) => void | Promise<void>) =>
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
        await runs.start("n", "sync", null, 4000, null);
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
        await runs.abandon("m", 5000, "the process running it exited");
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
          assert.equal(await snapshots.currentSnapshotId("m", "simple"), first, "the last good snapshot stays");
          assert.equal(await snapshots.currentSnapshotId("m", "other"), undefined, "nor is any other index published");
        }
      },
    );

    withRepos(
      "blobs: a claim touches what is recorded and answers only that; gc's delete re-reads what is live",
      async ({ blobs, snapshots }) => {
        await blobs.record(digest(1), 101, "sync", 10);
        await blobs.record(digest(2), 102, "sync", 10);
        await blobs.record(digest(3), 103, "sync", 10);
        assert.deepEqual(
          (await blobs.unreferenced(100)).map((b) => b.sha256).sort(),
          [digest(1), digest(2), digest(3)],
        );
        // Between gc's listing and its delete, a sync claims 1 and publishes a snapshot listing 2.
        assert.deepEqual([...(await blobs.claim([digest(1), digest(9)], 150))], [digest(1)], "9 has no record");
        assert.equal((await blobs.get(digest(1)))?.lastAccessAt, 150);
        assert.equal(await blobs.get(digest(9)), undefined, "a claim records nothing");
        await snapshots.publish("m", null, [{ idx: "simple", projects: [], files: [file("b.whl", 2)] }], 160);
        assert.deepEqual(
          (await blobs.deleteUnreferenced(100)).map((b) => b.sha256),
          [digest(3)],
          "only what is still garbage is forgotten",
        );
        assert.equal(await blobs.get(digest(3)), undefined);
        assert.deepEqual([...(await blobs.claim([digest(3)], 200))], [], "a forgotten blob cannot be claimed");
        assert.deepEqual([...(await blobs.digests())].sort(), [digest(1), digest(2)]);
        assert.deepEqual(await blobs.deleteUnreferenced(100), []);
        assert.deepEqual([...(await blobs.claim([], 200))], []);
      },
    );

    withRepos("blobs: recorded, touched, unreferenced ones found for gc", async ({ blobs, snapshots }) => {
      await blobs.record(digest(1), 101, "sync", 10);
      await blobs.record(digest(2), 102, "sync", 10);
      await blobs.record(digest(1), 101, "sync", 50);
      assert.deepEqual(await blobs.get(digest(1)), {
        sha256: digest(1),
        size: 101,
        createdAt: 10,
        lastAccessAt: 50,
        origin: "sync",
      });
      await blobs.touch(digest(2), 20);
      assert.equal((await blobs.get(digest(2)))?.lastAccessAt, 20);
      await snapshots.publish("m", null, [{ idx: "simple", projects: [], files: [file("a.whl", 1)] }], 60);
      assert.deepEqual(
        (await blobs.unreferenced(100)).map((b) => b.sha256),
        [digest(2)],
        "a blob a snapshot lists is not garbage",
      );
      assert.deepEqual(await blobs.unreferenced(15), [], "nor is one used since the cut-off");
      await blobs.delete(digest(2));
      assert.equal(await blobs.get(digest(2)), undefined);
      assert.deepEqual([...(await blobs.digests())], [digest(1)]);
    });

    withRepos(
      "manifest references: what a kept manifest references, transitively, is neither collected nor evicted",
      async ({ blobs, snapshots, proxyCache, manifests }) => {
        const keep = (parent: number, children: number[], mirror = "m") =>
          manifests.putManifest(
            {
              mirror,
              repository: "org/img",
              digest: `sha256:${digest(parent)}`,
              mediaType: "application/vnd.oci.image.index.v1+json",
              size: 100 + parent,
              fetchedAt: 1,
              lastUsedAt: 1,
            },
            children.map((c) => ({ digest: `sha256:${digest(c)}`, mediaType: "x", size: 100 + c })),
          );
        // An index (1) names a manifest (2) that names a layer (3); 4 is an orphan; all old.
        for (const n of [1, 2, 3, 4]) await blobs.record(digest(n), 100 + n, "sync", 10);
        await keep(1, [2]);
        await keep(2, [3]);
        const indexFile = file("index", 1, { path: "org/img/manifests/index" });
        await snapshots.publish("m", null, [{ idx: "org/img", projects: [], files: [indexFile] }], 20, 1);
        assert.deepEqual(
          (await blobs.unreferenced(100)).map((b) => b.sha256),
          [digest(4)],
          "the snapshot keeps the index, the index its manifest, the manifest its layer",
        );
        await snapshots.publish("m", null, [{ idx: "org/img", projects: [], files: [] }], 30, 1);
        assert.deepEqual(
          (await blobs.unreferenced(100)).map((b) => b.sha256).sort(),
          [digest(1), digest(2), digest(3), digest(4)],
          "once no snapshot lists the index, the whole tree goes in one pass",
        );
        await blobs.touch(digest(1), 200);
        assert.deepEqual(
          (await blobs.unreferenced(100)).map((b) => b.sha256),
          [digest(4)],
          "a recently used manifest keeps its old children",
        );
        await blobs.touch(digest(1), 10);
        // A manifest fetched on demand (an index pulled through) keeps what it references.
        await blobs.record(digest(5), 105, "fetch", 10);
        await keep(5, [2], "other");
        assert.deepEqual(
          (await blobs.unreferenced(100)).map((b) => b.sha256).sort(),
          [digest(1), digest(4)],
          "gc never returns fetched blobs, and keeps what they reference",
        );
        assert.deepEqual(
          await manifests.cachedBeyondSnapshots("other"),
          { count: 2, bytes: 105 + 102 },
          "a mirror's kept manifest and the stored blobs it references",
        );
        assert.deepEqual(await manifests.cachedBeyondSnapshots("m"), { count: 3, bytes: 101 + 102 + 103 });
        assert.deepEqual(await manifests.cachedBeyondSnapshots("nothing"), { count: 0, bytes: 0 });
        await blobs.delete(digest(1));
        assert.equal(
          await manifests.manifestAnywhere(`sha256:${digest(1)}`),
          undefined,
          "a deleted manifest's rows go",
        );
        assert.deepEqual(await manifests.references(`sha256:${digest(1)}`), [], "and its references");

        // Eviction: a fetched index (6) names a fetched manifest (7); only the index is a candidate.
        await blobs.record(digest(6), 106, "fetch", 1);
        await blobs.record(digest(7), 107, "fetch", 2);
        await keep(6, [7], "other");
        assert.deepEqual(
          (await proxyCache.evictionCandidates(10)).map((c) => c.sha256),
          [digest(6), digest(5)],
          "a referenced fetched blob is not evicted while the manifest naming it is kept",
        );
        await blobs.delete(digest(6));
        assert.deepEqual(
          (await proxyCache.evictionCandidates(10)).map((c) => c.sha256),
          [digest(7), digest(5)],
        );
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

    withRepos(
      "manifests: tags name digests, manifests keep their references in order, live digests count what is kept",
      async ({ manifests }) => {
        const index = `sha256:${digest(10)}`;
        const image = `sha256:${digest(11)}`;
        const config = `sha256:${digest(12)}`;
        const layer = `sha256:${digest(13)}`;
        assert.equal(await manifests.tag("hub", "library/alpine", "3"), undefined);
        await manifests.putTag({
          mirror: "hub",
          repository: "library/alpine",
          tag: "3",
          digest: index,
          mediaType: "application/vnd.oci.image.index.v1+json",
          checkedAt: 100,
        });
        await manifests.touchTag("hub", "library/alpine", "3", 200);
        assert.deepEqual(await manifests.tag("hub", "library/alpine", "3"), {
          mirror: "hub",
          repository: "library/alpine",
          tag: "3",
          digest: index,
          mediaType: "application/vnd.oci.image.index.v1+json",
          checkedAt: 200,
        });
        // A tag moved upstream: it names the new digest.
        await manifests.putTag({
          ...((await manifests.tag("hub", "library/alpine", "3")) as TagRow),
          digest: image,
          checkedAt: 300,
        });
        assert.equal((await manifests.tag("hub", "library/alpine", "3"))?.digest, image);
        assert.deepEqual(
          (await manifests.tagsOf("hub")).map((t) => t.tag),
          ["3"],
        );

        const row = {
          mirror: "hub",
          repository: "library/alpine",
          digest: image,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: 500,
          fetchedAt: 10,
          lastUsedAt: 10,
        };
        const refs = [
          { digest: config, mediaType: "application/vnd.oci.image.config.v1+json", size: 50 },
          { digest: layer, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: 5000 },
        ];
        await manifests.putManifest(row, refs);
        await manifests.putManifest(row, refs);
        assert.deepEqual(await manifests.manifest("hub", "library/alpine", image), row);
        assert.deepEqual(await manifests.manifestAnywhere(image), row);
        assert.equal(await manifests.manifest("other", "library/alpine", image), undefined);
        assert.deepEqual(await manifests.references(image), refs);
        assert.deepEqual(await manifests.referenced(layer), refs[1]);
        assert.deepEqual(await manifests.liveDigests(), new Set([image, config, layer]));
        await manifests.touchManifest("hub", "library/alpine", image, 99);
        assert.equal((await manifests.manifest("hub", "library/alpine", image))?.lastUsedAt, 99);
        assert.deepEqual(
          (await manifests.manifestsOf("hub")).map((m) => m.digest),
          [image],
        );

        // Kept by a second mirror too: forgetting one copy keeps its references live.
        await manifests.putManifest({ ...row, mirror: "hub2" }, refs);
        await manifests.deleteManifest("hub", "library/alpine", image);
        assert.equal(await manifests.manifest("hub", "library/alpine", image), undefined);
        assert.deepEqual(await manifests.liveDigests(), new Set([image, config, layer]));
        await manifests.deleteManifest("hub2", "library/alpine", image);
        assert.deepEqual(await manifests.liveDigests(), new Set());
        assert.deepEqual(await manifests.references(image), []);
        await manifests.deleteTag("hub", "library/alpine", "3");
        assert.equal(await manifests.tag("hub", "library/alpine", "3"), undefined);
      },
    );
  });
}
