// Pull-through end to end: the real server in proxy mode (and mirror mode with on_miss) in front
// of the fixture upstream; concurrent real clients, real pip, injected upstream faults.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type PublishResult,
  type PypiUpstream,
  publishTorchLike,
  startPypiUpstream,
} from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { runPip } from "../helpers/pip.js";
import { until } from "../helpers/until.js";

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function blobPath(ws: MirrorWorkspace, digest: string): string {
  return join(ws.dataDir, "blobs", "sha256", digest.slice(0, 2), digest);
}

/** Reads a body, noting when the first bytes arrived; rejects when the transfer fails. */
async function timedBody(url: string, init: RequestInit = {}) {
  const started = performance.now();
  const res = await fetch(url, init);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Buffer[] = [];
  let firstByteMs: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    firstByteMs ??= performance.now() - started;
    chunks.push(Buffer.from(value));
  }
  return { res, body: Buffer.concat(chunks), firstByteMs, totalMs: performance.now() - started };
}

function fileRequests(upstream: PypiUpstream, filename: string) {
  return upstream.requests.filter(
    (r) => r.method === "GET" && decodeURIComponent(r.path).endsWith(`/${filename}`),
  );
}

describe("pull-through proxy", () => {
  let upstream: PypiUpstream;
  let published: PublishResult[];
  let big: PublishResult;
  let ws: MirrorWorkspace;
  let server: RunningServe;

  before(async () => {
    upstream = await startPypiUpstream();
    published = await publishTorchLike(upstream);
    big = await upstream.publish({
      index: "whl/cu121",
      project: "bigpkg",
      version: "1.0.0",
      payloadBytes: 6 * 1024 * 1024,
    });
    ws = createWorkspace({
      mirrors: {
        pytorch: {
          type: "pypi",
          mode: "proxy",
          upstream: upstream.url,
          indexes: ["whl/cu121", "whl/cpu"],
          retry_backoff: "10ms",
          index_ttl: "10m",
        },
      },
    });
    server = await ws.serve();
  });

  after(async () => {
    await ws.cleanup();
    await upstream.close();
  });

  test("real pip installs from a cold proxy; files are fetched once, then served from the store", async () => {
    const target = mkdtempSync(join(tmpdir(), "fm-pt-"));
    try {
      const result = await runPip([
        "install",
        "--index-url",
        `${server.url}/pytorch/whl/cpu`,
        "--target",
        target,
        "--python-version",
        "3.12",
        "--only-binary=:all:",
        "torch==2.6.0+cpu",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(readFileSync(join(target, "torch", "__init__.py"), "utf8"), /2\.6\.0\+cpu/);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
    const torch = published.find((p) => p.filename === "torch-2.6.0+cpu-cp312-cp312-linux_x86_64.whl");
    assert.ok(torch);
    assert.equal(fileRequests(upstream, torch.filename).length, 1);
    assert.ok(existsSync(blobPath(ws, torch.sha256)), "the file was kept");
    const again = await fetch(`${server.url}/pytorch/whl/cpu/${encodeURIComponent(torch.filename)}`);
    assert.equal(again.headers.get("x-cache"), "HIT");
    assert.equal(sha256(Buffer.from(await again.arrayBuffer())), torch.sha256);
    assert.equal(fileRequests(upstream, torch.filename).length, 1, "a HIT does not ask upstream");
  });

  test("20 concurrent clients (real pip among them) share exactly one upstream download", async () => {
    const fault = upstream.fault({ match: big.filename, kind: "slowBody", bytesPerSecond: 6 * 1024 * 1024 });
    const url = `${server.url}/pytorch/whl/cu121/${encodeURIComponent(big.filename)}`;
    const dest = mkdtempSync(join(tmpdir(), "fm-pt-dl-"));
    try {
      const first = timedBody(url);
      // The others join once the first client's upstream download is under way.
      await until(() => fileRequests(upstream, big.filename).length > 0, "the upstream download to start");
      const others = Array.from({ length: 18 }, () => timedBody(url));
      const pip = runPip([
        "download",
        "--index-url",
        `${server.url}/pytorch/whl/cu121`,
        "--dest",
        dest,
        "--no-deps",
        "bigpkg==1.0.0",
      ]);
      const results = await Promise.all([first, ...others]);
      const pipResult = await pip;
      assert.equal(pipResult.code, 0, pipResult.stderr);
      assert.equal(sha256(readFileSync(join(dest, big.filename))), big.sha256);
      for (const r of results) {
        assert.equal(r.res.status, 200);
        assert.equal(sha256(r.body), big.sha256);
      }
      const caches = results.map((r) => r.res.headers.get("x-cache"));
      assert.equal(caches[0], "MISS");
      assert.ok(
        caches.slice(1).every((c) => c === "COALESCED" || c === "HIT"),
        caches.join(","),
      );
      assert.ok(caches.filter((c) => c === "COALESCED").length >= 10, caches.join(","));
      assert.equal(fileRequests(upstream, big.filename).length, 1, "exactly one upstream GET for the file");
      // Joiners did not wait for the download to end: their first bytes came long before it did.
      const joinerFirstBytes = results.slice(1).map((r) => r.firstByteMs ?? Infinity);
      assert.ok(
        Math.max(...joinerFirstBytes) < results[0].totalMs - 200,
        `${joinerFirstBytes} vs ${results[0].totalMs}`,
      );
    } finally {
      fault.remove();
      rmSync(dest, { recursive: true, force: true });
    }
  });

  test("a slow upstream: the client receives first bytes long before the download completes", async () => {
    const slow = await upstream.publish({
      index: "whl/cu121",
      project: "slowpkg",
      version: "1.0.0",
      payloadBytes: 3 << 20,
    });
    const fault = upstream.fault({ match: slow.filename, kind: "slowBody", bytesPerSecond: 1 << 20 });
    try {
      const r = await timedBody(`${server.url}/pytorch/whl/cu121/${encodeURIComponent(slow.filename)}`);
      assert.equal(sha256(r.body), slow.sha256);
      assert.ok(r.firstByteMs !== undefined && r.firstByteMs < 1000, `first byte after ${r.firstByteMs} ms`);
      assert.ok(r.totalMs > 2000, `whole transfer took ${r.totalMs} ms`);
    } finally {
      fault.remove();
    }
  });

  test("a Range request on a miss gets the right 206 while the download runs", async () => {
    const file = await upstream.publish({
      index: "whl/cu121",
      project: "rangepkg",
      version: "1.0.0",
      payloadBytes: 2 << 20,
    });
    const original = (await (await fetch(`${upstream.url}${file.path}`)).arrayBuffer()) as ArrayBuffer;
    upstream.clearLog();
    const res = await fetch(`${server.url}/pytorch/whl/cu121/${encodeURIComponent(file.filename)}`, {
      headers: { range: "bytes=-65536" },
    });
    assert.equal(res.status, 206);
    assert.equal(
      res.headers.get("content-range"),
      `bytes ${file.size - 65536}-${file.size - 1}/${file.size}`,
    );
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(original).subarray(file.size - 65536));
    // The whole file is fetched (once) and kept, so later requests are hits.
    await until(() => existsSync(blobPath(ws, file.sha256)), "the whole file to be stored");
    const head = await fetch(`${server.url}/pytorch/whl/cu121/${encodeURIComponent(file.filename)}`, {
      method: "HEAD",
    });
    assert.equal(head.headers.get("x-cache"), "HIT");
    assert.equal(fileRequests(upstream, file.filename).length, 1);
  });

  test("corrupt upstream bytes: every client's transfer fails, nothing is kept, the next request tries again", async () => {
    const file = await upstream.publish({
      index: "whl/cu121",
      project: "corruptpkg",
      version: "1.0.0",
      payloadBytes: 1 << 20,
    });
    const fault = upstream.fault({ match: file.filename, kind: "wrongBytes", times: 1 });
    const url = `${server.url}/pytorch/whl/cu121/${encodeURIComponent(file.filename)}`;
    const attempts = await Promise.allSettled(Array.from({ length: 3 }, () => timedBody(url)));
    for (const attempt of attempts) {
      assert.equal(
        attempt.status,
        "rejected",
        "a client must see a failed transfer, not a complete-looking body",
      );
    }
    assert.ok(!existsSync(blobPath(ws, file.sha256)));
    assert.equal(fault.hits, 1);
    const retry = await timedBody(url);
    assert.equal(retry.res.status, 200);
    assert.equal(sha256(retry.body), file.sha256);
    assert.equal(retry.res.headers.get("x-cache"), "MISS");
  });

  test("the download goes on (within abandon_grace) when the only client disconnects, and the file lands", async () => {
    const file = await upstream.publish({
      index: "whl/cu121",
      project: "abandoned",
      version: "1.0.0",
      payloadBytes: 2 << 20,
    });
    const fault = upstream.fault({ match: file.filename, kind: "slowBody", bytesPerSecond: 4 << 20 });
    try {
      const controller = new AbortController();
      const res = await fetch(`${server.url}/pytorch/whl/cu121/${encodeURIComponent(file.filename)}`, {
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      controller.abort();
      await until(
        () => existsSync(blobPath(ws, file.sha256)),
        "the file to land although its client left",
        10_000,
      );
      assert.ok(existsSync(blobPath(ws, file.sha256)), "the file landed although its client left");
    } finally {
      fault.remove();
    }
  });

  test(".metadata on demand: upstream's when offered, verified", async () => {
    const torch = published.find((p) => p.filename === "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl");
    assert.ok(torch);
    const res = await fetch(`${server.url}/pytorch/whl/cu121/${encodeURIComponent(torch.filename)}.metadata`);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), torch.metadata);
  });
});

describe("pull-through when upstream is down, and mirror mode's on_miss", () => {
  test("a cached index is served stale; an uncached file gets a clear 502", async () => {
    const upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    const ws = createWorkspace({
      mirrors: {
        pytorch: {
          type: "pypi",
          mode: "proxy",
          upstream: upstream.url,
          indexes: ["whl/cu121"],
          index_ttl: "0s",
          upstream_timeout: "2s",
          retries: 0,
        },
      },
    });
    try {
      const server = await ws.serve();
      const pageUrl = `${server.url}/pytorch/whl/cu121/torch/`;
      const fresh = await fetch(pageUrl);
      assert.equal(fresh.status, 200);
      const freshBody = await fresh.text();
      assert.equal(fresh.headers.get("x-freshmirror-stale"), null);
      await upstream.close();
      const stale = await fetch(pageUrl);
      assert.equal(stale.status, 200);
      assert.ok(stale.headers.get("x-freshmirror-stale"), "says it is stale");
      assert.match(stale.headers.get("warning") ?? "", /110/);
      assert.equal(await stale.text(), freshBody);
      const file = await fetch(
        `${server.url}/pytorch/whl/cu121/torch-2.6.0%2Bcu121-cp311-cp311-linux_x86_64.whl`,
      );
      assert.equal(file.status, 502);
      assert.match(await file.text(), /could not reach upstream|upstream/);
      const unknown = await fetch(`${server.url}/pytorch/whl/cu121/never-seen/`);
      assert.equal(
        unknown.status,
        502,
        "an uncached page with upstream down is an error, never an empty page",
      );
      await unknown.arrayBuffer();
    } finally {
      await ws.cleanup();
      await upstream.close();
    }
  });

  test("circuit breaker: after max_fails failures upstream is not asked for fail_timeout, and stale pages serve", async () => {
    const upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    const ws = createWorkspace({
      mirrors: {
        pytorch: {
          type: "pypi",
          mode: "proxy",
          upstream: upstream.url,
          indexes: ["whl/cu121"],
          index_ttl: "0s",
          retries: 0,
          max_fails: 2,
          fail_timeout: "1m",
        },
      },
    });
    try {
      const server = await ws.serve();
      const pageUrl = `${server.url}/pytorch/whl/cu121/torch/`;
      assert.equal((await fetch(pageUrl)).status, 200);
      const fault = upstream.fault({ match: "/whl/", kind: "status500" });
      for (let i = 0; i < 2; i++) {
        const stale = await fetch(pageUrl);
        assert.equal(stale.status, 200);
        assert.ok(stale.headers.get("x-freshmirror-stale"));
        await stale.arrayBuffer();
      }
      fault.remove();
      upstream.clearLog();
      const started = performance.now();
      const open = await fetch(pageUrl);
      assert.equal(open.status, 200, "stale page while the circuit is open");
      assert.match(open.headers.get("x-freshmirror-stale") ?? "", /failed repeatedly/);
      await open.arrayBuffer();
      const file = await fetch(
        `${server.url}/pytorch/whl/cu121/torch-2.6.0%2Bcu121-cp311-cp311-linux_x86_64.whl`,
      );
      assert.equal(file.status, 502, "an uncached file fails fast");
      assert.match(await file.text(), /failed repeatedly/);
      assert.ok(performance.now() - started < 1000, "failing fast");
      assert.deepEqual(upstream.requests, [], "upstream was not asked while the circuit is open");
    } finally {
      await ws.cleanup();
      await upstream.close();
    }
  });

  test("mirror mode fetches projects it does not mirror with on_miss: fetch, and answers 404 with on_miss: 404", async () => {
    const upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    const base = {
      type: "pypi",
      upstream: upstream.url,
      indexes: ["whl/cu121"],
      projects: ["filelock"],
      retry_backoff: "10ms",
    };
    const ws = createWorkspace({
      mirrors: { fetching: { ...base, on_miss: "fetch" }, strict: { ...base, on_miss: "404" } },
    });
    try {
      for (const name of ["fetching", "strict"]) {
        const sync = await ws.cli(["sync", name]);
        assert.equal(sync.code, 0, sync.stderr);
      }
      const server = await ws.serve();
      const fetched = await fetch(`${server.url}/fetching/whl/cu121/torch/`);
      assert.equal(fetched.status, 200);
      assert.match(await fetched.text(), /torch-2\.6\.0%2Bcu121/);
      const refused = await fetch(`${server.url}/strict/whl/cu121/torch/`);
      assert.equal(refused.status, 404);
      await refused.arrayBuffer();
      const mirrored = await fetch(`${server.url}/strict/whl/cu121/filelock/`);
      assert.equal(mirrored.status, 200);
      await mirrored.arrayBuffer();
    } finally {
      await ws.cleanup();
      await upstream.close();
    }
  });

  test("max_cache_size evicts the least recently used files fetched on demand", async () => {
    const upstream = await startPypiUpstream();
    const files: PublishResult[] = [];
    for (const n of [1, 2, 3]) {
      files.push(
        await upstream.publish({
          index: "whl/cu121",
          project: `evict${n}`,
          version: "1.0.0",
          payloadBytes: 1 << 20,
        }),
      );
    }
    const ws = createWorkspace({
      max_cache_size: "2.5MiB",
      mirrors: { p: { type: "pypi", mode: "proxy", upstream: upstream.url, indexes: ["whl/cu121"] } },
    });
    try {
      const server = await ws.serve();
      for (const file of files) {
        const r = await timedBody(`${server.url}/p/whl/cu121/${encodeURIComponent(file.filename)}`);
        assert.equal(sha256(r.body), file.sha256);
        // Stored (and so recorded for LRU) before the next one is asked for.
        await until(() => existsSync(blobPath(ws, file.sha256)), `${file.filename} to be stored`);
      }
      const [first, second, third] = files as [PublishResult, PublishResult, PublishResult];
      // Eviction runs once the third download is stored.
      await until(
        () => !existsSync(blobPath(ws, first.sha256)),
        "the least recently used file to be evicted",
      );
      assert.ok(!existsSync(blobPath(ws, first.sha256)), "the least recently used file was evicted");
      assert.ok(existsSync(blobPath(ws, second.sha256)));
      assert.ok(existsSync(blobPath(ws, third.sha256)));
    } finally {
      await ws.cleanup();
      await upstream.close();
    }
  });
});
