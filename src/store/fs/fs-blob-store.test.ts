// The file system blob store: the shared contract, plus what only a file system store can get
// wrong (temp files left behind, stray files in the blob folders).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runBlobStoreContract } from "../blob-store.contract.js";
import { FsBlobStore } from "./fs-blob-store.js";

async function makeStore(): Promise<{ store: FsBlobStore; dir: string; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "fm-fs-blob-store-"));
  const store = new FsBlobStore(dir);
  await store.init();
  return { store, dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

runBlobStoreContract("FsBlobStore", makeStore);

const tempFiles = (dir: string) =>
  readdirSync(join(dir, "tmp"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());

test("FsBlobStore: a refused, aborted or committed session leaves no temp file", async () => {
  const { store, dir, cleanup } = await makeStore();
  try {
    const wrong = await store.begin("wrong");
    await wrong.write([Buffer.from("bytes")]);
    await assert.rejects(wrong.commit("0".repeat(64)), { code: "FM_ERR_DIGEST_MISMATCH" });
    const aborted = await store.begin("aborted");
    await aborted.write([Buffer.from("bytes")]);
    assert.equal(tempFiles(dir).length, 1);
    await aborted.abort();
    const committed = await store.begin("committed");
    await committed.write([Buffer.from("bytes")]);
    await committed.commit();
    assert.deepEqual(tempFiles(dir), []);
  } finally {
    await cleanup();
  }
});

test("FsBlobStore: files in the blob folders that are not blobs filed under their prefix are not listed", async () => {
  const { store, dir, cleanup } = await makeStore();
  try {
    const real = await store.putBuffer(Buffer.from("real"));
    const other = createHash("sha256").update("other").digest("hex");
    const wrongPrefix = other.startsWith("00") ? "01" : "00";
    mkdirSync(join(dir, "blobs", "sha256", wrongPrefix), { recursive: true });
    writeFileSync(join(dir, "blobs", "sha256", wrongPrefix, other), "misfiled");
    writeFileSync(join(dir, "blobs", "sha256", real.slice(0, 2), "notes.txt"), "not a blob");
    writeFileSync(join(dir, "blobs", "sha256", "stray"), "not a folder");
    const listed: string[] = [];
    for await (const digest of store.list()) listed.push(digest);
    assert.deepEqual(listed, [real]);
  } finally {
    await cleanup();
  }
});
