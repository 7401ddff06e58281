// Range, conditional requests and HEAD for file bodies (RFC 9110 §13 and §14), the parser on its
// own and sendFile behind a real HTTP server on loopback.
// https://www.rfc-editor.org/rfc/rfc9110#section-14
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import type { BlobHandle } from "../store/blob-store.js";
import { type ByteRange, type FileMeta, type OpenBody, parseRange, sendFile } from "./file-response.js";
import { SendBufferBudget } from "./send-buffer-budget.js";

/** A file on disk as the blob handle the server sends committed blobs from. */
function fileBody(path: string): OpenBody {
  return {
    async open(): Promise<BlobHandle> {
      const file = await open(path, "r");
      const { size } = await file.stat();
      return {
        size,
        readInto: async (buffer, offset, length, position) =>
          (await file.read(buffer, offset, length, position)).bytesRead,
        async readRange(start, end) {
          const buffer = Buffer.alloc(Math.max(0, end - start));
          const { bytesRead } = await file.read(buffer, 0, buffer.length, start);
          return buffer.subarray(0, bytesRead);
        },
        close: () => file.close(),
      };
    },
  };
}

describe("parseRange", () => {
  test("no header, another unit, or an empty spec: ignored (the whole file)", () => {
    assert.equal(parseRange(undefined, 1000), undefined);
    assert.equal(parseRange("items=0-1", 1000), undefined);
    assert.equal(parseRange("bytes=", 1000), undefined);
    assert.equal(parseRange("bytes=-", 1000), undefined);
    assert.equal(parseRange("bytes=abc-def", 1000), undefined);
  });

  test("a closed range, clamped to the last byte", () => {
    assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=999-999", 1000), { start: 999, end: 999 });
    assert.deepEqual(parseRange("bytes=900-5000", 1000), { start: 900, end: 999 });
  });

  test("an open range runs to the end", () => {
    assert.deepEqual(parseRange("bytes=500-", 1000), { start: 500, end: 999 });
    assert.deepEqual(parseRange("bytes=0-", 1), { start: 0, end: 0 });
  });

  test("a suffix range takes the last N bytes, all of them when N exceeds the size", () => {
    assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=-5000", 1000), { start: 0, end: 999 });
  });

  test("unit and spacing are read leniently", () => {
    assert.deepEqual(parseRange("BYTES = 1 - 2", 1000), { start: 1, end: 2 });
    assert.deepEqual(parseRange(" bytes=-3 ", 10), { start: 7, end: 9 });
  });

  test("several ranges are ignored: the whole file with 200, as RFC 9110 allows", () => {
    assert.equal(parseRange("bytes=0-1,5-6", 1000), undefined);
    assert.equal(parseRange("bytes=0-1, -5", 1000), undefined);
  });

  test("last before first is invalid, so ignored (RFC 9110 §14.1.1)", () => {
    assert.equal(parseRange("bytes=5-2", 1000), undefined);
  });

  test("unsatisfiable: a start at or past the end, a zero suffix, any suffix of an empty file", () => {
    assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
    assert.equal(parseRange("bytes=1000-2000", 1000), "unsatisfiable");
    assert.equal(parseRange("bytes=-0", 1000), "unsatisfiable");
    assert.equal(parseRange("bytes=-5", 0), "unsatisfiable");
    assert.equal(parseRange("bytes=0-", 0), "unsatisfiable");
  });
});

describe("sendFile over HTTP", () => {
  const content = randomBytes(700 * 1024); // more than two 256 KiB chunks
  const sha256 = createHash("sha256").update(content).digest("hex");
  const etag = `"${sha256}"`;
  const lastModified = new Date("2025-03-01T12:00:00Z");
  let dir: string;
  let path: string;
  let server: Server;
  let base: string;
  /** What the next request serves; reset before each use. */
  let serve: { meta: FileMeta; body: OpenBody };
  const spans: ByteRange[] = [];

  const fileMeta = (extra: Partial<FileMeta> = {}): FileMeta => ({
    size: content.length,
    sha256,
    lastModified,
    contentType: "application/octet-stream",
    ...extra,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fm-file-response-"));
    path = join(dir, "blob");
    writeFileSync(path, content);
    serve = { meta: fileMeta(), body: fileBody(path) };
    server = createServer((req, res) => {
      sendFile(req, res, serve.meta, serve.body).catch((error: unknown) => res.destroy(error as Error));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blob`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function get(headers: Record<string, string> = {}, method: "GET" | "HEAD" = "GET") {
    const response = await request(base, { method, headers });
    const body = Buffer.from(await response.body.arrayBuffer());
    return { status: response.statusCode, headers: response.headers, body };
  }

  function fromPath(meta: FileMeta = fileMeta()): void {
    serve = { meta, body: fileBody(path) };
  }

  test("GET: the whole file with its validators and immutable caching", async () => {
    fromPath();
    const r = await get();
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(content));
    assert.equal(r.headers["content-length"], String(content.length));
    assert.equal(r.headers.etag, etag);
    assert.equal(r.headers["last-modified"], lastModified.toUTCString());
    assert.equal(r.headers["accept-ranges"], "bytes");
    assert.equal(r.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(r.headers["content-range"], undefined);
  });

  test("a range across chunk boundaries: 206 with Content-Range and exactly those bytes", async () => {
    fromPath();
    const start = 256 * 1024 - 10;
    const end = 512 * 1024 + 10;
    const r = await get({ range: `bytes=${start}-${end}` });
    assert.equal(r.status, 206);
    assert.equal(r.headers["content-range"], `bytes ${start}-${end}/${content.length}`);
    assert.equal(r.headers["content-length"], String(end - start + 1));
    assert.ok(r.body.equals(content.subarray(start, end + 1)));
  });

  test("suffix and open ranges", async () => {
    fromPath();
    const suffix = await get({ range: "bytes=-100" });
    assert.equal(suffix.status, 206);
    assert.ok(suffix.body.equals(content.subarray(content.length - 100)));
    const open = await get({ range: `bytes=${content.length - 5}-` });
    assert.equal(open.status, 206);
    assert.ok(open.body.equals(content.subarray(content.length - 5)));
  });

  test("several ranges: 200 with the whole file", async () => {
    fromPath();
    const r = await get({ range: "bytes=0-9,20-29" });
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(content));
  });

  test("an unsatisfiable range: 416 naming the size", async () => {
    fromPath();
    const r = await get({ range: `bytes=${content.length}-` });
    assert.equal(r.status, 416);
    assert.equal(r.headers["content-range"], `bytes */${content.length}`);
    assert.match(r.body.toString(), /range not satisfiable/);
    const head = await get({ range: `bytes=${content.length}-` }, "HEAD");
    assert.equal(head.status, 416);
    assert.equal(head.body.length, 0);
  });

  test("HEAD: the headers GET would send, no body", async () => {
    fromPath();
    const whole = await get({}, "HEAD");
    assert.equal(whole.status, 200);
    assert.equal(whole.headers["content-length"], String(content.length));
    assert.equal(whole.body.length, 0);
    const part = await get({ range: "bytes=10-19" }, "HEAD");
    assert.equal(part.status, 206);
    assert.equal(part.headers["content-range"], `bytes 10-19/${content.length}`);
    assert.equal(part.headers["content-length"], "10");
    assert.equal(part.body.length, 0);
  });

  test("If-None-Match: 304 on the ETag (weakly compared, in a list, or *), 200 otherwise", async () => {
    fromPath();
    for (const value of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const r = await get({ "if-none-match": value });
      assert.equal(r.status, 304, value);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.etag, etag);
    }
    assert.equal((await get({ "if-none-match": '"other"' })).status, 200);
  });

  test("If-Modified-Since: 304 when not modified since, 200 when older; If-None-Match takes precedence", async () => {
    fromPath();
    assert.equal((await get({ "if-modified-since": lastModified.toUTCString() })).status, 304);
    assert.equal(
      (await get({ "if-modified-since": new Date(lastModified.getTime() + 60_000).toUTCString() })).status,
      304,
    );
    assert.equal(
      (await get({ "if-modified-since": new Date(lastModified.getTime() - 1000).toUTCString() })).status,
      200,
    );
    assert.equal((await get({ "if-modified-since": "not a date" })).status, 200);
    const mismatch = await get({
      "if-none-match": '"other"',
      "if-modified-since": lastModified.toUTCString(),
    });
    assert.equal(mismatch.status, 200, "a failed If-None-Match is not overridden by the date");
  });

  test("If-Range with the strong ETag: the range; with another or a weak one: the whole file", async () => {
    fromPath();
    const match = await get({ range: "bytes=0-9", "if-range": etag });
    assert.equal(match.status, 206);
    assert.ok(match.body.equals(content.subarray(0, 10)));
    const other = await get({ range: "bytes=0-9", "if-range": '"changed"' });
    assert.equal(other.status, 200);
    assert.ok(other.body.equals(content));
    const weak = await get({ range: "bytes=0-9", "if-range": `W/${etag}` });
    assert.equal(weak.status, 200, "If-Range needs a strong comparison (RFC 9110 §13.1.5)");
  });

  test("If-Range with a date: the range only when it is exactly Last-Modified", async () => {
    fromPath();
    const same = await get({ range: "bytes=5-9", "if-range": lastModified.toUTCString() });
    assert.equal(same.status, 206);
    assert.ok(same.body.equals(content.subarray(5, 10)));
    const later = await get({
      range: "bytes=5-9",
      "if-range": new Date(lastModified.getTime() + 1000).toUTCString(),
    });
    assert.equal(later.status, 200);
    assert.equal(later.body.length, content.length);
  });

  test("If-Range is ignored without a Range; an unsatisfiable range under a stale If-Range gives 200", async () => {
    fromPath();
    assert.equal((await get({ "if-range": '"changed"' })).status, 200);
    const stale = await get({ range: `bytes=${content.length}-`, "if-range": '"changed"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, content.length);
  });

  test("an empty file: 200 with no body, its range unsatisfiable", async () => {
    const empty = join(dir, "empty");
    writeFileSync(empty, "");
    serve = {
      meta: fileMeta({ size: 0, sha256: createHash("sha256").digest("hex") }),
      body: fileBody(empty),
    };
    const r = await get();
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], "0");
    assert.equal(r.body.length, 0);
    assert.equal((await get({ range: "bytes=0-" })).status, 416);
  });

  test("a streamed body is opened with the span to send, only when a body is sent", async () => {
    spans.length = 0;
    serve = {
      meta: fileMeta(),
      body: (span) => {
        spans.push(span);
        return Readable.from([content.subarray(span.start, span.end + 1)]);
      },
    };
    const r = await get({ range: "bytes=100-199" });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(content.subarray(100, 200)));
    await get({}, "HEAD");
    await get({ "if-none-match": etag });
    assert.deepEqual(spans, [{ start: 100, end: 199 }]);
  });

  test("unknown size (a download in flight): 200 chunked, a Range ignored", async () => {
    serve = { meta: fileMeta({ size: undefined, sha256: null }), body: () => Readable.from([content]) };
    const r = await get({ range: "bytes=0-9" });
    assert.equal(r.status, 200);
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(r.headers["content-length"], undefined);
    assert.equal(r.headers.etag, undefined, "no ETag before the digest is known");
    assert.ok(r.body.equals(content));
  });

  test("a streamed body that fails: the transfer breaks, never a short body that looks complete", async () => {
    serve = {
      meta: fileMeta(),
      body: () =>
        new Readable({
          read() {
            this.push(content.subarray(0, 1000));
            this.destroy(new Error("digest mismatch"));
          },
        }),
    };
    await assert.rejects(get());
  });
});

describe("send buffers: small until the client shows it reads, large within a shared budget", () => {
  const MiB = 1024 * 1024;
  const content = randomBytes(40 * MiB);
  const sha256 = createHash("sha256").update(content).digest("hex");
  let dir: string;
  let body: OpenBody;
  let server: Server;
  let base: string;
  let budget: SendBufferBudget;
  const meta: FileMeta = {
    size: content.length,
    sha256,
    lastModified: new Date("2025-03-01T12:00:00Z"),
    contentType: "application/octet-stream",
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fm-send-buffers-"));
    const path = join(dir, "blob");
    writeFileSync(path, content);
    body = fileBody(path);
    server = createServer((req, res) => {
      sendFile(req, res, meta, body, { sendBuffers: budget }).catch((error: unknown) =>
        res.destroy(error as Error),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blob`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Downloads the file, noting the most of the budget taken while it arrived. */
  async function download(): Promise<{ digest: string; mostTaken: number }> {
    const response = await request(base);
    assert.equal(response.statusCode, 200);
    const hash = createHash("sha256");
    let mostTaken = 0;
    for await (const chunk of response.body) {
      hash.update(chunk as Buffer);
      mostTaken = Math.max(mostTaken, budget.taken);
    }
    return { digest: hash.digest("hex"), mostTaken };
  }

  test("a reading client moves to 2 × 1 MiB after 32 MiB and gives them back at the end", async () => {
    budget = new SendBufferBudget(64 * MiB);
    const { digest, mostTaken } = await download();
    assert.equal(digest, sha256);
    assert.equal(mostTaken, 2 * MiB);
    assert.equal(budget.taken, 0);
  });

  test("an exhausted budget: the response keeps its small buffers, the bytes are the same", async () => {
    budget = new SendBufferBudget(MiB);
    const { digest, mostTaken } = await download();
    assert.equal(digest, sha256);
    assert.equal(mostTaken, 0);
  });

  test("a client that never reads never takes from the budget", async () => {
    budget = new SendBufferBudget(64 * MiB);
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.pause();
    socket.write("GET /blob HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    // Wait until the server has filled every kernel buffer between it and the stalled client.
    let stalledSince = Date.now();
    let queued = -1;
    while (Date.now() - stalledSince < 500) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = socket.readableLength;
      if (now !== queued) {
        queued = now;
        stalledSince = Date.now();
      }
    }
    assert.equal(budget.taken, 0);
    socket.destroy();
  });
});
