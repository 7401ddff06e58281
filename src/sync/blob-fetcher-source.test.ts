// A kind's own BlobSource (OCI: token auth, CDN redirects) in place of a GET through the
// mirror's UpstreamClient: used for every attempt, resumed with Range after a cut, and a coded
// client error (4xx) from it is not retried.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { NotFoundError } from "../errors.js";
import { FsBlobStore } from "../store/fs/fs-blob-store.js";
import { StateStore } from "../store/state-store.js";
import { UpstreamClient } from "../upstream/http-client.js";
import { BlobFetcher, type BlobSource } from "./blob-fetcher.js";

describe("blob fetcher with a BlobSource", () => {
  const content = randomBytes(3 * 1024 * 1024);
  const sha256 = createHash("sha256").update(content).digest("hex");
  let server: Server;
  let base: string;
  let dir: string;
  let store: FsBlobStore;
  let state: StateStore;
  let client: UpstreamClient;
  let fetcher: BlobFetcher;
  const seen: (string | undefined)[] = [];
  let cutNext = false;

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers.range);
      const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      const start = match ? Number(match[1]) : 0;
      const body = content.subarray(start);
      res.writeHead(match ? 206 : 200, {
        "content-length": body.length,
        ...(match ? { "content-range": `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
      });
      if (cutNext) {
        cutNext = false;
        res.write(body.subarray(0, 1024 * 1024), () => res.destroy());
        return;
      }
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), "fm-fetcher-source-"));
    store = new FsBlobStore(dir);
    await store.init();
    state = new StateStore(join(dir, "state.sqlite"));
    // Allows no host: a request through it would fail, so only the source can succeed.
    client = new UpstreamClient({
      allowedHosts: [],
      timeoutMs: 10_000,
      retries: 0,
      backoffMs: 10,
      maxFails: 100,
      failTimeoutMs: 1000,
    });
    fetcher = new BlobFetcher(store, state, client, { retries: 3, backoffMs: 10, fillTimeoutMs: 60_000 });
  });

  after(async () => {
    await client.close();
    state.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const source: BlobSource = async (headers, signal) => {
    const res = await request(`${base}/blob`, { headers, signal });
    return { status: res.statusCode, url: `${base}/blob`, headers: res.headers, body: res.body };
  };

  test("every attempt goes through the source; a cut transfer resumes with Range and verifies", async () => {
    seen.length = 0;
    cutNext = true;
    const download = fetcher.fetch({
      url: "oci://example/blob",
      filename: "layer",
      sha256,
      size: content.length,
      origin: "fetch",
      source,
    });
    const blob = await download.done;
    assert.deepEqual([blob.sha256, blob.size, blob.reused], [sha256, content.length, false]);
    assert.equal(seen.length, 2);
    assert.equal(seen[0], undefined);
    assert.match(String(seen[1]), /^bytes=\d+-$/);
    assert.equal(await store.stat(sha256), content.length);
  });

  test("a coded client error from the source fails at once, without retries", async () => {
    let calls = 0;
    const missing: BlobSource = async () => {
      calls++;
      throw new NotFoundError("blob not found upstream");
    };
    const download = fetcher.fetch({
      url: "oci://example/missing",
      filename: "missing",
      sha256: "ab".repeat(32),
      origin: "fetch",
      source: missing,
    });
    await assert.rejects(download.done, NotFoundError);
    assert.equal(calls, 1);
  });
});
