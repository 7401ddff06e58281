// The blob records (gc's and eviction's view of the store) and the OCI manifest records, as part
// of the state repositories contract (state-repositories.contract.ts runs them with the rest).
import assert from "node:assert/strict";
import { type FileRecord, fileRecord, type StateRepositories, type TagRow } from "./state-repositories.js";

export type WithRepos = (title: string, body: (repos: StateRepositories) => void | Promise<void>) => void;

export const digest = (n: number) => n.toString(16).padStart(64, "0");

export function file(name: string, sha: number, extra: Partial<FileRecord> = {}): FileRecord {
  return fileRecord({
    path: `simple/demo/${name}`,
    project: "demo",
    filename: name,
    upstreamUrl: `https://upstream.example/${name}`,
    sha256: digest(sha),
    size: 100 + sha,
    ...extra,
  });
}

export function blobAndManifestContract(withRepos: WithRepos): void {
  withRepos(
    "blobs: a claim touches what is recorded and answers only that; gc's delete re-reads what is live",
    async ({ blobs, snapshots }) => {
      await blobs.record(digest(1), 101, "sync", 10);
      await blobs.record(digest(2), 102, "sync", 10);
      await blobs.record(digest(3), 103, "sync", 10);
      assert.deepEqual((await blobs.unreferenced(100)).map((b) => b.sha256).sort(), [
        digest(1),
        digest(2),
        digest(3),
      ]);
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
}
