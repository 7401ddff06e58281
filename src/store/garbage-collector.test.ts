// gc over a real SQLite state and a real file system blob store.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FsBlobStore } from "./fs/fs-blob-store.js";
import { collectGarbage } from "./garbage-collector.js";
import { type FileRecord, fileRecord } from "./state-repositories.js";
import { StateStore } from "./state-store.js";

function fileOf(path: string, sha256: string, size: number): FileRecord {
  return fileRecord({
    path,
    project: "v1",
    filename: path.split("/").pop() as string,
    upstreamUrl: `https://registry.example/v2/${path}`,
    sha256,
    size,
  });
}

test("gc keeps what a snapshot or a kept manifest references, transitively, and removes the rest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-gc-"));
  const state = new StateStore(join(dir, "state.sqlite"));
  const store = new FsBlobStore(dir);
  await store.init();
  try {
    const put = async (text: string, origin: string, at: number) => {
      const sha = await store.putBuffer(Buffer.from(text));
      await state.blobs.record(sha, text.length, origin, at);
      return sha;
    };
    const layer = await put("layer bytes", "sync", 1);
    const config = await put("{config}", "sync", 1);
    const manifest = await put(`{manifest ${config} ${layer}}`, "sync", 1);
    const index = await put(`{index ${manifest}}`, "sync", 1);
    const orphan = await put("orphan layer", "sync", 1);
    const pulledLayer = await put("layer pulled on demand", "fetch", 1);
    const pulledManifest = await put(`{manifest ${pulledLayer}}`, "sync", 1);
    const pulledIndex = await put(`{index ${pulledManifest}}`, "fetch", 1);
    const keep = (parent: string, children: string[], origin: string) =>
      state.manifests.putManifest(
        {
          mirror: origin === "fetch" ? "hub" : "m",
          repository: "org/img",
          digest: `sha256:${parent}`,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: 1,
          fetchedAt: 1,
          lastUsedAt: 1,
        },
        children.map((c) => ({ digest: `sha256:${c}`, mediaType: "application/octet-stream", size: 1 })),
      );
    await keep(index, [manifest], "sync");
    await keep(manifest, [config, layer], "sync");
    await keep(pulledIndex, [pulledManifest], "fetch");
    await keep(pulledManifest, [pulledLayer], "fetch");
    await state.snapshots.publish(
      "m",
      null,
      [{ idx: "org/img", projects: [], files: [fileOf("org/img/manifests/v1", index, 10)] }],
      5,
      1,
    );

    const dry = await collectGarbage({ records: state.blobs, store }, { before: 100, dryRun: true });
    assert.deepEqual(
      dry.blobs.map((b) => b.sha256),
      [orphan],
      "only the orphan would go",
    );
    assert.equal(dry.bytes, "orphan layer".length);
    assert.equal(await store.has(orphan), true, "a dry run removes nothing");

    const done = await collectGarbage({ records: state.blobs, store }, { before: 100, dryRun: false });
    assert.deepEqual(
      done.blobs.map((b) => b.sha256),
      [orphan],
    );
    assert.equal(await store.has(orphan), false);
    assert.equal(await state.blobs.get(orphan), undefined);
    for (const kept of [layer, config, manifest, index, pulledLayer, pulledManifest, pulledIndex])
      assert.equal(await store.has(kept), true, kept);

    // The tag moves on: the new snapshot no longer lists the index, so its tree goes in one pass.
    await state.snapshots.publish("m", null, [{ idx: "org/img", projects: [], files: [] }], 6, 1);
    const second = await collectGarbage({ records: state.blobs, store }, { before: 100, dryRun: false });
    assert.deepEqual(second.blobs.map((b) => b.sha256).sort(), [layer, config, manifest, index].sort());
    for (const gone of [layer, config, manifest, index]) assert.equal(await store.has(gone), false);
    assert.equal(await store.has(pulledManifest), true, "a fetched index still keeps its manifest");
    assert.equal(
      await state.manifests.manifestAnywhere(`sha256:${index}`),
      undefined,
      "a collected manifest's row goes",
    );
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gc forgets the records first; bytes it cannot remove are reported and the rest still go", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-gc-fail-"));
  const state = new StateStore(join(dir, "state.sqlite"));
  const fs = new FsBlobStore(dir);
  await fs.init();
  try {
    const put = async (text: string) => {
      const sha = await fs.putBuffer(Buffer.from(text));
      await state.blobs.record(sha, text.length, "sync", 1);
      return sha;
    };
    const stuck = await put("bytes on a read-only disk");
    const free = await put("bytes that go");
    // The store refuses to remove one blob (a permission or I/O error).
    const store = new Proxy(fs, {
      get(target, key) {
        if (key === "remove")
          return async (sha256: string) => {
            if (sha256 === stuck) throw new Error("EACCES: permission denied");
            return target.remove(sha256);
          };
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const report = await collectGarbage({ records: state.blobs, store }, { before: 100, dryRun: false });
    assert.deepEqual(report.blobs.map((b) => b.sha256).sort(), [stuck, free].sort());
    assert.deepEqual(report.failed, [{ sha256: stuck, error: "EACCES: permission denied" }]);
    assert.equal(report.bytes, "bytes that go".length, "only what was removed counts as freed");
    assert.equal(await fs.has(free), false);
    assert.equal(
      await state.blobs.get(stuck),
      undefined,
      "its record went first: no sync reuses those bytes",
    );
    assert.deepEqual([...(await state.blobs.claim([stuck], 200))], [], "they cannot be claimed");
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
