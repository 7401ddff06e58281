// max_cache_size against manifest references, over a real SQLite state and a real file system
// blob store.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FsBlobStore } from "../store/fs/fs-blob-store.js";
import { StateStore } from "../store/state-store.js";
import { evictFetchedBlobs } from "./cache-eviction.js";

test("eviction keeps the cache within its bound, least recently used first, never a referenced blob", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-evict-"));
  const state = new StateStore(join(dir, "state.sqlite"));
  const store = new FsBlobStore(dir);
  await store.init();
  try {
    const put = async (text: string, at: number) => {
      const sha = await store.putBuffer(Buffer.from(text));
      await state.blobs.record(sha, 100, "fetch", at);
      return sha;
    };
    const layer = await put("layer of a kept image", 1);
    const index = await put("index naming the layer", 5);
    const old = await put("an old download", 2);
    const recent = await put("a recent download", 9);
    await state.manifests.putManifest(
      {
        mirror: "hub",
        repository: "library/alpine",
        digest: `sha256:${index}`,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        size: 100,
        fetchedAt: 5,
        lastUsedAt: 5,
      },
      [{ digest: `sha256:${layer}`, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: 100 }],
    );
    const deps = { proxyCache: state.proxyCache, blobRecords: state.blobs, blobs: store };
    assert.deepEqual(await evictFetchedBlobs(deps, 250), [old, index], "400 bytes down to 200");
    assert.equal(
      await store.has(layer),
      true,
      "the layer a kept manifest names stays, though it is the oldest",
    );
    assert.equal(await store.has(old), false);
    assert.equal(await store.has(index), false, "then the least recently used manifest");
    assert.equal(await state.manifests.manifestAnywhere(`sha256:${index}`), undefined, "with its rows");
    assert.equal(await store.has(recent), true);
    assert.deepEqual(
      await evictFetchedBlobs(deps, 0),
      [layer, recent],
      "with the manifest gone, its layer may go too",
    );
    assert.equal(await store.has(layer), false);
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
