// The contract every BlobStore keeps, as one suite any implementation runs unchanged (the file
// system store today; an object store later). Modelled on undici's cache-store tests: the same
// cases against each store, through the interface only.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { describe, test } from "node:test";
import type { BlobStore } from "./blob-store.js";

export interface BlobStoreFixture {
  store: BlobStore;
  /** Removes whatever the store kept (called once per test). */
  cleanup(): Promise<void>;
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listed(store: BlobStore): Promise<string[]> {
  const digests: string[] = [];
  for await (const digest of store.list()) digests.push(digest);
  return digests.sort();
}

/** Digests a store must refuse: each would name something else than a blob, or nothing. */
const HOSTILE_DIGESTS = [
  "",
  "../../../../etc/passwd",
  `../${"a".repeat(61)}`,
  "A".repeat(64),
  "a".repeat(63),
  "a".repeat(65),
  `${"a".repeat(63)}/`,
  `${"a".repeat(62)}\0a`,
  `sha256:${"a".repeat(64)}`,
];

export function runBlobStoreContract(name: string, makeStore: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    const withStore = (title: string, body: (store: BlobStore) => Promise<void>) =>
      test(title, async () => {
        const fixture = await makeStore();
        try {
          await body(fixture.store);
        } finally {
          await fixture.cleanup();
        }
      });

    withStore("a committed blob is stored under the digest of its bytes", async (store) => {
      const bytes = randomBytes(100_000);
      const writer = await store.begin("demo.whl");
      await writer.write([bytes.subarray(0, 1000), bytes.subarray(1000, 50_000)]);
      await writer.write([bytes.subarray(50_000)]);
      assert.equal(writer.size, bytes.length);
      assert.equal(writer.digest(), sha256(bytes));
      assert.deepEqual(await writer.commit(sha256(bytes)), { sha256: sha256(bytes), size: bytes.length });
      assert.equal(await store.has(sha256(bytes)), true);
      assert.equal(await store.stat(sha256(bytes)), bytes.length);
      assert.deepEqual(await collect(await store.read(sha256(bytes))), bytes);
      // Aborting after the commit changes nothing.
      await writer.abort();
      assert.equal(await store.stat(sha256(bytes)), bytes.length);
    });

    withStore("commit without an expected digest stores the bytes under their own", async (store) => {
      const bytes = Buffer.from("no published hash");
      const writer = await store.begin();
      await writer.write([bytes]);
      assert.deepEqual(await writer.commit(), { sha256: sha256(bytes), size: bytes.length });
      assert.deepEqual(await collect(await store.read(sha256(bytes))), bytes);
    });

    withStore("a commit whose bytes do not match the expected digest keeps nothing", async (store) => {
      const bytes = Buffer.from("the bytes upstream sent");
      const claimed = sha256(Buffer.from("what the index said"));
      const writer = await store.begin("wrong.whl");
      await writer.write([bytes]);
      await assert.rejects(writer.commit(claimed), (error: Error & { code?: string }) => {
        assert.equal(error.code, "FM_ERR_DIGEST_MISMATCH");
        assert.match(error.message, new RegExp(sha256(bytes)));
        return true;
      });
      assert.equal(await store.has(claimed), false);
      assert.equal(await store.has(sha256(bytes)), false);
      assert.deepEqual(await listed(store), []);
      // The session is over: it takes no more bytes and no second commit.
      await assert.rejects(writer.write([bytes]));
      await assert.rejects(writer.commit());
    });

    withStore("reads a byte range, as a stream and by random access", async (store) => {
      const bytes = randomBytes(300_000);
      const digest = await store.putBuffer(bytes, "ranged");
      assert.equal(digest, sha256(bytes));
      assert.deepEqual(
        await collect(await store.read(digest, { start: 10, end: 19 })),
        bytes.subarray(10, 20),
      );
      assert.deepEqual(
        await collect(await store.read(digest, { start: 299_990, end: 299_999 })),
        bytes.subarray(299_990),
      );
      assert.deepEqual(await collect(await store.read(digest, { start: 0, end: 0 })), bytes.subarray(0, 1));
      const handle = await store.open(digest);
      assert.ok(handle);
      try {
        assert.equal(handle.size, bytes.length);
        assert.deepEqual(await handle.readRange(1000, 2000), bytes.subarray(1000, 2000));
        // Past the end a range is short, not an error.
        assert.deepEqual(await handle.readRange(299_000, 400_000), bytes.subarray(299_000));
        const buffer = Buffer.alloc(64);
        assert.equal(await handle.readInto(buffer, 0, 64, 5000), 64);
        assert.deepEqual(buffer, bytes.subarray(5000, 5064));
        assert.equal(await handle.readInto(buffer, 0, 64, bytes.length), 0);
      } finally {
        await handle.close();
      }
    });

    withStore("a missing blob: stat undefined, open undefined, read rejects", async (store) => {
      const missing = sha256(Buffer.from("never stored"));
      assert.equal(await store.stat(missing), undefined);
      assert.equal(await store.has(missing), false);
      assert.equal(await store.open(missing), undefined);
      await assert.rejects(store.read(missing), { code: "FM_ERR_STORE_BLOB_MISSING" });
    });

    withStore("concurrent commits of the same bytes both succeed and leave one whole blob", async (store) => {
      const bytes = randomBytes(2 * 1024 * 1024);
      const writers = await Promise.all([store.begin("a"), store.begin("b"), store.begin("c")]);
      await Promise.all(
        writers.map(async (writer, i) => {
          // Different chunkings of the same bytes.
          const step = 65_536 * (i + 1);
          for (let at = 0; at < bytes.length; at += step) await writer.write([bytes.subarray(at, at + step)]);
        }),
      );
      const results = await Promise.all(writers.map((writer) => writer.commit(sha256(bytes))));
      for (const result of results) assert.deepEqual(result, { sha256: sha256(bytes), size: bytes.length });
      assert.deepEqual(await listed(store), [sha256(bytes)]);
      assert.deepEqual(await collect(await store.read(sha256(bytes))), bytes);
    });

    withStore("no half-written blob is visible; the writer itself reads what it wrote", async (store) => {
      const bytes = randomBytes(200_000);
      const writer = await store.begin("partial");
      await writer.write([bytes.subarray(0, 120_000)]);
      assert.equal(await store.has(sha256(bytes)), false);
      assert.equal(await store.has(writer.digest()), false);
      assert.deepEqual(await listed(store), []);
      const written = await writer.openWritten();
      try {
        assert.equal(written.size, 120_000);
        assert.deepEqual(await written.readRange(100_000, 120_000), bytes.subarray(100_000, 120_000));
        await writer.write([bytes.subarray(120_000)]);
        // A reader opened mid-write follows the session as it grows, and through the commit.
        assert.equal(written.size, bytes.length);
        assert.deepEqual(await written.readRange(190_000, 200_000), bytes.subarray(190_000));
        await writer.commit(sha256(bytes));
        assert.deepEqual(await written.readRange(0, 10), bytes.subarray(0, 10));
      } finally {
        await written.close();
      }
      assert.deepEqual(await listed(store), [sha256(bytes)]);
    });

    withStore("an aborted session leaves nothing, and restart drops what was written", async (store) => {
      const dropped = await store.begin("dropped");
      await dropped.write([Buffer.from("partial bytes")]);
      await dropped.abort();
      await dropped.abort();
      assert.deepEqual(await listed(store), []);
      const writer = await store.begin("restarted");
      await writer.write([Buffer.from("a first attempt that is cut off")]);
      await writer.restart();
      assert.equal(writer.size, 0);
      await writer.write([Buffer.from("the whole file")]);
      assert.deepEqual(await writer.commit(), { sha256: sha256(Buffer.from("the whole file")), size: 14 });
      assert.deepEqual(await listed(store), [sha256(Buffer.from("the whole file"))]);
    });

    withStore("an empty blob is a blob", async (store) => {
      const writer = await store.begin("empty");
      const { sha256: digest, size } = await writer.commit(sha256(Buffer.alloc(0)));
      assert.equal(size, 0);
      assert.equal(await store.stat(digest), 0);
      assert.deepEqual(await collect(await store.read(digest)), Buffer.alloc(0));
    });

    withStore("putBuffer stores once and returns the digest", async (store) => {
      const bytes = Buffer.from("Metadata-Version: 2.1\nName: demo\n");
      const first = await store.putBuffer(bytes);
      const second = await store.putBuffer(bytes);
      assert.equal(first, sha256(bytes));
      assert.equal(second, first);
      assert.deepEqual(await listed(store), [first]);
    });

    withStore("remove deletes a blob; removing a missing one is no error", async (store) => {
      const keep = await store.putBuffer(Buffer.from("keep"));
      const drop = await store.putBuffer(Buffer.from("drop"));
      await store.remove(drop);
      await store.remove(drop);
      assert.equal(await store.has(drop), false);
      assert.equal(await store.stat(drop), undefined);
      assert.equal(await store.has(keep), true);
      assert.deepEqual(await listed(store), [keep]);
    });

    withStore("list names every stored blob once", async (store) => {
      const digests = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.putBuffer(Buffer.from(`blob ${i}`))),
      );
      assert.deepEqual(await listed(store), [...new Set(digests)].sort());
    });

    withStore("hostile digests are refused by every method, before any lookup", async (store) => {
      const stored = await store.putBuffer(Buffer.from("a real blob"));
      for (const digest of HOSTILE_DIGESTS) {
        const shown = JSON.stringify(digest);
        await assert.rejects(store.stat(digest), TypeError, `stat ${shown}`);
        await assert.rejects(store.has(digest), TypeError, `has ${shown}`);
        await assert.rejects(store.read(digest), TypeError, `read ${shown}`);
        await assert.rejects(store.open(digest), TypeError, `open ${shown}`);
        await assert.rejects(store.remove(digest), TypeError, `remove ${shown}`);
        const writer = await store.begin("hostile");
        await writer.write([Buffer.from("x")]);
        await assert.rejects(writer.commit(digest), TypeError, `commit ${shown}`);
        await writer.abort();
      }
      assert.deepEqual(await listed(store), [stored]);
    });
  });
}
