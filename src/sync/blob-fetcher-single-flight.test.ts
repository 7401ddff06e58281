// The fetcher's single flight against the fixture upstream (real HTTP on loopback, a real store in
// a temp dir): concurrent fetches of one file share one upstream request, every reader gets the
// same bytes (joining at any point of the download), a digest mismatch fails every reader and
// keeps nothing, and a transfer cut short resumes with Range where it stopped.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  type PublishResult,
  type PypiUpstream,
  startPypiUpstream,
} from "../../test/fixtures/pypi-upstream.js";
import { FsBlobStore as BlobStore } from "../store/fs/fs-blob-store.js";
import { StateStore } from "../store/state-store.js";
import { UpstreamClient } from "../upstream/http-client.js";
import { BlobFetcher, type BlobRequest, type InFlightDownload } from "./blob-fetcher.js";

const PAYLOAD = 3 << 20;

/** Reads a stream to its end: its bytes' sha256 and length, or the error that destroyed it. */
async function drain(stream: Readable): Promise<{ sha256: string; size: number } | Error> {
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sha256: hash.digest("hex"), size };
  } catch (error) {
    return error as Error;
  }
}

async function until(download: InFlightDownload, condition: () => boolean): Promise<void> {
  while (!condition()) {
    if (download.state !== "running") throw new Error(`download ${download.state} before the condition held`);
    await download.nextChange();
  }
}

describe("blob fetcher: one download, many readers", () => {
  let upstream: PypiUpstream;
  let dir: string;
  let store: BlobStore;
  let state: StateStore;
  let client: UpstreamClient;
  let fetcher: BlobFetcher;
  let serial = 0;

  before(async () => {
    upstream = await startPypiUpstream({ indexes: ["simple"] });
    dir = mkdtempSync(join(tmpdir(), "fm-single-flight-"));
    store = new BlobStore(dir);
    await store.init();
    state = new StateStore(join(dir, "state.sqlite"));
    client = new UpstreamClient({
      allowedHosts: [new URL(upstream.url).host],
      timeoutMs: 10_000,
      retries: 0,
      backoffMs: 10,
      maxFails: 100,
      failTimeoutMs: 1000,
    });
    fetcher = new BlobFetcher(store, state, client, { retries: 3, backoffMs: 10, fillTimeoutMs: 60_000 });
  });

  beforeEach(() => {
    upstream.clearFaults();
  });

  after(async () => {
    await client.close();
    state.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tempFiles = () =>
    readdirSync(join(dir, "tmp"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());

  async function publish(): Promise<PublishResult> {
    serial++;
    return upstream.publish({
      index: "simple",
      project: `flight${serial}`,
      version: "1.0.0",
      payloadBytes: PAYLOAD,
    });
  }

  const gets = (file: PublishResult) =>
    upstream.requests.filter((r) => r.method === "GET" && r.path.includes(file.filename));

  function requestOf(file: PublishResult, extra: Partial<BlobRequest> = {}): BlobRequest {
    return {
      url: file.url,
      filename: file.filename,
      sha256: file.sha256,
      size: file.size,
      origin: "sync",
      ...extra,
    };
  }

  test("concurrent fetches of one file share one upstream request; every reader gets the same bytes", async () => {
    const file = await publish();
    upstream.fault({ match: file.filename, kind: "slowBody", bytesPerSecond: 4 << 20 });
    const downloads = Array.from({ length: 6 }, (_, i) =>
      fetcher.fetch(requestOf(file, { origin: i % 2 === 0 ? "sync" : "fetch" })),
    );
    for (const d of downloads) assert.equal(d, downloads[0], "one in-flight download");
    const readers = downloads.map((d) => drain(d.createReader()));
    const blob = await downloads[0]?.done;
    assert.equal(blob?.sha256, file.sha256);
    assert.equal(blob?.reused, false);
    for (const result of await Promise.all(readers)) {
      assert.deepEqual(result, { sha256: file.sha256, size: file.size });
    }
    assert.equal(gets(file).length, 1, "one GET upstream");
    assert.ok(await store.has(file.sha256));
    assert.equal(fetcher.inFlight(requestOf(file)), undefined, "forgotten once done");
  });

  test("without a published hash, fetches of one URL still share one request", async () => {
    const file = await publish();
    upstream.fault({ match: file.filename, kind: "slowBody", bytesPerSecond: 4 << 20 });
    const first = fetcher.fetch(requestOf(file, { sha256: undefined }));
    const second = fetcher.fetch(requestOf(file, { sha256: undefined }));
    assert.equal(second, first);
    const [a, b] = await Promise.all([drain(first.createReader()), drain(second.createReader())]);
    assert.deepEqual(a, b);
    const blob = await first.done;
    assert.equal(blob.sha256, file.sha256);
    assert.equal(blob.hashSource, "computed");
    assert.equal(gets(file).length, 1);
  });

  test("a reader joining mid-download, from the start or from an offset, gets the right bytes", async () => {
    const file = await publish();
    upstream.fault({ match: file.filename, kind: "slowBody", bytesPerSecond: 4 << 20 });
    const download = fetcher.fetch(requestOf(file));
    const early = drain(download.createReader());
    await until(download, () => download.bytesWritten >= file.size / 3);
    assert.equal(download.state, "running", "still downloading when the late readers join");
    const late = drain(download.createReader());
    const offset = 1_000_003;
    const tail = drain(download.createReader(offset));
    const slice = drain(download.createReader(10, 19));
    await download.done;
    assert.deepEqual(await early, { sha256: file.sha256, size: file.size });
    assert.deepEqual(await late, { sha256: file.sha256, size: file.size });
    // The expected tail and slice: read from the stored blob, which matched the published digest.
    const stored = await fetcher.fetch(requestOf(file)).done;
    assert.equal(stored.reused, true, "already in the store: no request");
    const whole = fetcher.fetch(requestOf(file));
    assert.deepEqual(await tail, await drain(whole.createReader(offset)));
    const tailResult = await tail;
    assert.ok(!(tailResult instanceof Error) && tailResult.size === file.size - offset);
    const sliceResult = await slice;
    assert.ok(!(sliceResult instanceof Error) && sliceResult.size === 10);
    assert.equal(gets(file).length, 1);
  });

  test("stored bytes are reused only under a record, which the reuse claims; bytes gc has forgotten are fetched again", async () => {
    const file = await publish();
    await fetcher.fetch(requestOf(file)).done;
    assert.equal(gets(file).length, 1);
    // An old record: the reuse marks it used now, so gc (gc_grace) keeps it until it is listed.
    await state.blobs.touch(file.sha256, 1);
    const reused = await fetcher.fetch(requestOf(file)).done;
    assert.equal(reused.reused, true);
    assert.ok(((await state.blobs.get(file.sha256))?.lastAccessAt ?? 0) > Date.now() - 60_000);
    assert.equal(gets(file).length, 1, "reused: no request");
    // gc forgot the record and is about to remove the bytes: they are not trusted.
    await state.blobs.delete(file.sha256);
    assert.equal(await store.has(file.sha256), true);
    const again = await fetcher.fetch(requestOf(file)).done;
    assert.equal(again.reused, false, "fetched again");
    assert.equal(gets(file).length, 2);
    assert.equal((await state.blobs.get(file.sha256))?.size, file.size, "and recorded");
  });

  test("a digest mismatch fails every reader, keeps no blob and no temp file", async () => {
    const file = await publish();
    upstream.fault({ match: file.filename, kind: "wrongBytes" });
    const download = fetcher.fetch(requestOf(file));
    const readers = [drain(download.createReader()), drain(download.createReader(0, file.size - 1))];
    const joined = fetcher.fetch(requestOf(file, { origin: "fetch" }));
    assert.equal(joined, download);
    await assert.rejects(download.done, (error: Error & { code?: string }) => {
      assert.equal(error.code, "FM_ERR_DIGEST_MISMATCH");
      assert.match(error.message, new RegExp(file.filename.replace(/[.+]/g, "\\$&")));
      return true;
    });
    for (const result of await Promise.all(readers)) {
      assert.ok(result instanceof Error, "the reader errors, it never ends cleanly");
    }
    const lateReader = await drain(download.createReader());
    assert.ok(lateReader instanceof Error, "a reader after the failure errors at once");
    assert.equal(await store.has(file.sha256), false);
    assert.deepEqual(tempFiles(), []);
    assert.equal(fetcher.inFlight(requestOf(file)), undefined, "a new fetch starts afresh");
  });

  test("a transfer cut short resumes with Range where it stopped; readers see one seamless body", async () => {
    const file = await publish();
    const cutAt = 1_200_000;
    upstream.fault({ match: file.filename, kind: "truncate", afterBytes: cutAt, times: 1 });
    const before = fetcher.bytesDownloaded;
    const download = fetcher.fetch(requestOf(file));
    const reader = drain(download.createReader());
    const blob = await download.done;
    assert.equal(blob.sha256, file.sha256);
    assert.deepEqual(await reader, { sha256: file.sha256, size: file.size });
    const requests = gets(file);
    assert.equal(requests.length, 2, "the first GET and one resume");
    assert.equal(requests[0]?.headers.range, undefined);
    const range = requests[1]?.headers.range;
    assert.match(String(range), /^bytes=\d+-$/);
    const resumeAt = Number(/^bytes=(\d+)-$/.exec(String(range))?.[1]);
    assert.ok(resumeAt > 0 && resumeAt <= cutAt, `resumed at ${resumeAt}, cut at ${cutAt}`);
    assert.equal(requests[1]?.headers["if-range"], `"${file.sha256}"`, "resumed only if it is the same file");
    assert.equal(requests[1]?.status, 206);
    assert.equal(fetcher.bytesDownloaded - before, file.size, "no byte downloaded twice");
    assert.ok(await store.has(file.sha256));
    assert.deepEqual(tempFiles(), []);
  });
});

describe("blob fetcher: an upstream that ignores the resume Range", () => {
  test("readers holding early bytes are cut off, the download starts over and completes", async () => {
    const body = Buffer.alloc(3 << 20);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32BE(i, i);
    const digest = createHash("sha256").update(body).digest("hex");
    const seen: { range: string | undefined }[] = [];
    // First answer: cut off after 1 MiB. Later answers: 200 with everything, whatever the Range.
    const server = createServer((req, res) => {
      seen.push({ range: req.headers.range });
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
      if (seen.length === 1) res.write(body.subarray(0, 1 << 20), () => res.destroy());
      else res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/ranged-1.0-py3-none-any.bin`;
    const dir = mkdtempSync(join(tmpdir(), "fm-no-range-"));
    const store = new BlobStore(dir);
    await store.init();
    const state = new StateStore(join(dir, "state.sqlite"));
    const client = new UpstreamClient({
      allowedHosts: [new URL(url).host],
      timeoutMs: 10_000,
      retries: 0,
      backoffMs: 10,
      maxFails: 100,
      failTimeoutMs: 1000,
    });
    const fetcher = new BlobFetcher(store, state, client, {
      retries: 2,
      backoffMs: 10,
      fillTimeoutMs: 60_000,
    });
    try {
      const download = fetcher.fetch({
        url,
        filename: "ranged-1.0-py3-none-any.bin",
        sha256: digest,
        origin: "sync",
      });
      const early = drain(download.createReader());
      const blob = await download.done;
      assert.equal(blob.sha256, digest);
      assert.equal(seen.length, 2, "one resume asked for, answered with the whole file");
      assert.equal(seen[0]?.range, undefined);
      const resumeAt = Number(/^bytes=(\d+)-$/.exec(seen[1]?.range ?? "")?.[1]);
      assert.ok(resumeAt > 0 && resumeAt <= 1 << 20, `resume from ${seen[1]?.range}`);
      const cut = await early;
      assert.ok(cut instanceof Error, "a reader that may hold bytes of the first transfer is cut off");
      assert.equal((cut as Error & { code?: string }).code, "FM_ERR_FETCH_RESTARTED");
      assert.deepEqual(await drain(download.createReader()), { sha256: digest, size: body.length });
      assert.equal(
        fetcher.bytesDownloaded,
        resumeAt + body.length,
        "the first bytes, then the whole file again",
      );
    } finally {
      await client.close();
      state.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
