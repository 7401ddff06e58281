// Pull-through downloads with limits, end to end (the real server as a child process in front of
// fixture upstreams): a file of unknown size is answered at once and sent chunked; a body longer
// than its declared size, or past max_file_size, is stopped at once; a download its clients
// left is abandoned after abandon_grace. In every case data/tmp ends up empty.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type LoggedRequest, type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { runPip } from "../helpers/pip.js";
import { metricSum, until as waitUntil } from "../helpers/until.js";

const MiB = 1024 * 1024;

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Every file under data/tmp (the blob store's temp dirs), however deep. */
function tempFiles(ws: MirrorWorkspace): string[] {
  const root = join(ws.dataDir, "tmp");
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Polls a condition (across processes there is no event to wait on); false at the deadline. */
async function until(condition: () => boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

function fileGets(upstream: PypiUpstream, filename: string): LoggedRequest[] {
  return upstream.requests.filter(
    (r) => r.method === "GET" && decodeURIComponent(r.path).endsWith(`/${filename}`),
  );
}

/** Reads a whole body; rejects when the transfer breaks off. */
async function readAll(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

describe("pull-through downloads with limits", () => {
  let html: PypiUpstream; // PEP 503 HTML pages: no sizes
  let json: PypiUpstream; // PEP 691 JSON pages: sizes in the index
  let ws: MirrorWorkspace;
  let server: RunningServe;

  before(async () => {
    html = await startPypiUpstream({ indexes: ["simple"], format: "html" });
    json = await startPypiUpstream({ indexes: ["simple"], format: "json" });
    const proxy = { type: "pypi", mode: "proxy", indexes: ["simple"], retry_backoff: "10ms" };
    ws = createWorkspace({
      mirrors: {
        plain: { ...proxy, upstream: html.url, abandon_grace: "2s" },
        small: { ...proxy, upstream: html.url, max_file_size: "4MiB", retries: 0 },
        sized: { ...proxy, upstream: json.url, retries: 0 },
        sizedsmall: { ...proxy, upstream: json.url, max_file_size: "4MiB", retries: 0 },
      },
    });
    server = await ws.serve();
  });

  after(async () => {
    await ws.cleanup();
    await html.close();
    await json.close();
  });

  test("a file of unknown size from a chunked upstream: headers within 1 s, chunked body, then real pip", async () => {
    const file = await html.publish({
      index: "simple",
      project: "nosize",
      version: "1.0.0",
      payloadBytes: 3 * MiB,
    });
    const fault = html.fault({ match: file.filename, kind: "chunked", bytesPerSecond: MiB });
    try {
      const started = performance.now();
      const res = await fetch(`${server.url}/plain/simple/${encodeURIComponent(file.filename)}`);
      const headersMs = performance.now() - started;
      const upstreamGet = fileGets(html, file.filename)[0];
      assert.ok(upstreamGet, "upstream was asked for the file");
      assert.equal(upstreamGet.closed, false, "headers came while upstream was still sending");
      assert.ok(headersMs < 1000, `headers after ${headersMs} ms`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-length"), null);
      assert.equal(res.headers.get("transfer-encoding"), "chunked");
      assert.equal(res.headers.get("x-cache"), "MISS");
      assert.equal(sha256(await readAll(res)), file.sha256);
    } finally {
      fault.remove();
    }

    const pipFile = await html.publish({
      index: "simple",
      project: "nosizepip",
      version: "1.0.0",
      payloadBytes: 2 * MiB,
    });
    const pipFault = html.fault({ match: pipFile.filename, kind: "chunked", bytesPerSecond: 2 * MiB });
    const dest = mkdtempSync(join(tmpdir(), "fm-limits-pip-"));
    try {
      const pip = await runPip([
        "download",
        "--index-url",
        `${server.url}/plain/simple`,
        "--dest",
        dest,
        "--no-deps",
        "nosizepip==1.0.0",
      ]);
      assert.equal(pip.code, 0, pip.stderr);
      // The fault applies to the wheel (and to its .metadata, whose path contains the name).
      assert.equal(fileGets(html, pipFile.filename).length, 1, "the wheel came chunked, once");
      assert.equal(sha256(readFileSync(join(dest, pipFile.filename))), pipFile.sha256);
    } finally {
      pipFault.remove();
      rmSync(dest, { recursive: true, force: true });
    }
  });

  test("unknown size in flight: a Range request gets the whole file with 200, HEAD no length", async () => {
    const file = await html.publish({
      index: "simple",
      project: "norange",
      version: "1.0.0",
      payloadBytes: MiB,
    });
    const fault = html.fault({ match: file.filename, kind: "chunked", bytesPerSecond: MiB });
    try {
      const url = `${server.url}/plain/simple/${encodeURIComponent(file.filename)}`;
      const ranged = await fetch(url, { headers: { range: "bytes=100-199" } });
      assert.equal(ranged.status, 200, "no range without a known length, as nginx and Varnish");
      assert.equal(ranged.headers.get("content-range"), null);
      const head = await fetch(url, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("x-cache"), "COALESCED");
      assert.equal(head.headers.get("content-length"), null);
      assert.equal(sha256(await readAll(ranged)), file.sha256);
    } finally {
      fault.remove();
    }
  });

  test("an endless body is stopped at max_file_size, data/tmp is emptied, the log says why", async () => {
    const file = await html.publish({
      index: "simple",
      project: "endless",
      version: "1.0.0",
      payloadBytes: MiB,
    });
    const fault = html.fault({ match: file.filename, kind: "endless" });
    try {
      const res = await fetch(`${server.url}/small/simple/${encodeURIComponent(file.filename)}`);
      assert.equal(res.status, 200);
      await assert.rejects(readAll(res), "the client sees a failed transfer, not a complete body");
      const get = fileGets(html, file.filename)[0];
      assert.ok(get);
      assert.ok(await until(() => get.closed, 10_000), "the upstream transfer was cut off");
      // What upstream managed to write: 4 MiB taken, plus what the sockets' buffers held.
      assert.ok(get.bodyBytes < 4 * MiB + 32 * MiB, `upstream wrote ${get.bodyBytes} bytes`);
      assert.ok(await until(() => tempFiles(ws).length === 0, 5000), `left in tmp: ${tempFiles(ws)}`);
      assert.ok(
        await until(
          () =>
            /FM_ERR_FETCH_SIZE_LIMIT .*endless.*over max_file_size \(4194304 bytes\)/.test(server.output()),
          5000,
        ),
        server.output(),
      );
    } finally {
      fault.remove();
    }
  });

  test("a file whose index size is over max_file_size is refused before any download: 502 naming the limit", async () => {
    const file = await json.publish({
      index: "simple",
      project: "huge",
      version: "1.0.0",
      payloadBytes: 5 * MiB,
    });
    const res = await fetch(`${server.url}/sizedsmall/simple/${encodeURIComponent(file.filename)}`);
    assert.equal(res.status, 502);
    const body = await res.text();
    assert.match(body, /max_file_size \(4194304 bytes\)/);
    assert.match(body, new RegExp(`${file.size} bytes`));
    assert.deepEqual(fileGets(json, file.filename), [], "upstream was not asked for the file");
    assert.deepEqual(tempFiles(ws), []);
  });

  test("a body longer than the index's size is stopped right past it; nothing kept, tmp emptied", async () => {
    const file = await json.publish({
      index: "simple",
      project: "overlong",
      version: "1.0.0",
      payloadBytes: MiB,
    });
    const extra = 64 * MiB;
    const fault = json.fault({ match: file.filename, kind: "overlong", extraBytes: extra, times: 1 });
    try {
      const res = await fetch(`${server.url}/sized/simple/${encodeURIComponent(file.filename)}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-length"), String(file.size), "the index's size");
      await assert.rejects(readAll(res), "the client sees a failed transfer");
      const get = fileGets(json, file.filename)[0];
      assert.ok(get);
      assert.ok(await until(() => get.closed, 10_000), "the upstream transfer was cut off");
      assert.ok(
        get.bodyBytes < file.size + extra / 2,
        `upstream wrote ${get.bodyBytes} of ${file.size + extra}`,
      );
      assert.ok(await until(() => tempFiles(ws).length === 0, 5000), `left in tmp: ${tempFiles(ws)}`);
      assert.ok(
        await until(
          () =>
            new RegExp(`FM_ERR_FETCH_TOO_LARGE .*more than the ${file.size} bytes the index declared`).test(
              server.output(),
            ),
          5000,
        ),
        server.output(),
      );
      assert.ok(!existsSync(join(ws.dataDir, "blobs", "sha256", file.sha256.slice(0, 2), file.sha256)));
    } finally {
      fault.remove();
    }
  });

  test("when the only client leaves, the upstream transfer is closed after abandon_grace and tmp emptied", async () => {
    const file = await html.publish({
      index: "simple",
      project: "leftalone",
      version: "1.0.0",
      payloadBytes: 8 * MiB,
    });
    const fault = html.fault({ match: file.filename, kind: "chunked", bytesPerSecond: 256 * 1024 });
    try {
      const controller = new AbortController();
      const res = await fetch(`${server.url}/plain/simple/${encodeURIComponent(file.filename)}`, {
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      controller.abort();
      const leftAt = performance.now();
      const get = fileGets(html, file.filename)[0];
      assert.ok(get);
      assert.ok(await until(() => get.closed, 15_000), "the upstream transfer was closed");
      const closedAfter = performance.now() - leftAt;
      assert.ok(closedAfter >= 1500, `closed ${closedAfter} ms after the client left: the grace is 2 s`);
      assert.ok(get.bodyBytes < file.size, "closed before the whole file came");
      assert.ok(await until(() => tempFiles(ws).length === 0, 5000), `left in tmp: ${tempFiles(ws)}`);
      assert.ok(!existsSync(join(ws.dataDir, "blobs", "sha256", file.sha256.slice(0, 2), file.sha256)));
    } finally {
      fault.remove();
    }
  });

  test("a client that comes back within abandon_grace joins the same download", async () => {
    const file = await html.publish({
      index: "simple",
      project: "comeback",
      version: "1.0.0",
      payloadBytes: 2 * MiB,
    });
    const fault = html.fault({ match: file.filename, kind: "chunked", bytesPerSecond: MiB });
    try {
      const url = `${server.url}/plain/simple/${encodeURIComponent(file.filename)}`;
      const controller = new AbortController();
      const first = await fetch(url, { signal: controller.signal });
      assert.equal(first.status, 200);
      const served = await metricSum(server.url, "freshmirror_http_requests_total", { route: "file" });
      controller.abort();
      // The server has seen the client leave (its response is over and counted): the grace runs.
      await waitUntil(
        async () =>
          (await metricSum(server.url, "freshmirror_http_requests_total", { route: "file" })) > served,
        "the server to see the first client leave",
      );
      const again = await fetch(url);
      assert.equal(again.headers.get("x-cache"), "COALESCED");
      assert.equal(sha256(await readAll(again)), file.sha256);
      assert.equal(fileGets(html, file.filename).length, 1, "one upstream download");
    } finally {
      fault.remove();
    }
  });
});
