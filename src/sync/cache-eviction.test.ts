import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FsBlobStore } from "../store/fs/fs-blob-store.js";
import { StateStore } from "../store/state-store.js";
import { evictFetchedBlobs } from "./cache-eviction.js";

test("blobs fetched on demand beyond the bound go, least recently used first; synced ones stay", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-evict-"));
  const blobs = new FsBlobStore(dir);
  await blobs.init();
  const state = new StateStore(join(dir, "state.sqlite"));
  try {
    const put = async (text: string, origin: string, at: number) => {
      const sha = await blobs.putBuffer(Buffer.from(text.repeat(100)));
      await state.blobs.record(sha, 100 * text.length, origin, at);
      return sha;
    };
    const old = await put("a", "fetch", 1);
    const synced = await put("b", "sync", 0);
    const recent = await put("c", "fetch", 3);
    const middle = await put("d", "fetch", 2);
    const deps = { proxyCache: state.proxyCache, blobRecords: state.blobs, blobs };
    assert.deepEqual(await evictFetchedBlobs(deps, undefined), []);
    assert.deepEqual(await evictFetchedBlobs(deps, 150), [old, middle]);
    assert.equal(await blobs.stat(old), undefined);
    assert.equal(await state.blobs.get(old), undefined);
    assert.equal(await blobs.stat(recent), 100);
    assert.equal(await blobs.stat(synced), 100);
    assert.deepEqual(await evictFetchedBlobs(deps, 150), []);
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("evictions that start together run one after another: they evict what one would, not twice that", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-evict-"));
  const blobs = new FsBlobStore(dir);
  await blobs.init();
  const state = new StateStore(join(dir, "state.sqlite"));
  try {
    const digests: string[] = [];
    for (const [at, text] of ["a", "b", "c", "d"].entries()) {
      const sha = await blobs.putBuffer(Buffer.from(text.repeat(100)));
      await state.blobs.record(sha, 100, "fetch", at);
      digests.push(sha);
    }
    const deps = { proxyCache: state.proxyCache, blobRecords: state.blobs, blobs };
    const [first, second] = await Promise.all([evictFetchedBlobs(deps, 250), evictFetchedBlobs(deps, 250)]);
    assert.deepEqual(first, digests.slice(0, 2), "the first evicts the two oldest");
    assert.deepEqual(second, [], "the second finds the cache within the bound");
    assert.equal(await state.proxyCache.fetchedBytes(), 200);
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
