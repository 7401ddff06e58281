// The access log end to end: the real `freshmirror serve` with `access_log: true` writes one JSON
// line per request on stderr (method, path with credentials masked, status, bytes, duration,
// remote address, user agent, X-Cache); without it, none.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { type PublishResult, type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";

interface AccessLine {
  level: string;
  time: string;
  msg: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  durationMs: number;
  remote: string;
  ua?: string;
  cache?: string;
  completed: boolean;
}

function accessLines(output: string): AccessLine[] {
  const lines: AccessLine[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const parsed = JSON.parse(line) as AccessLine;
    if (parsed.msg === "access") lines.push(parsed);
  }
  return lines;
}

/** Resolves once serve's output holds `count` access lines (waits on the child's output, no sleeps). */
function accessLinesReach(server: RunningServe, count: number, timeoutMs = 10_000): Promise<AccessLine[]> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const lines = accessLines(server.output());
      if (lines.length < count) return false;
      clearTimeout(timer);
      server.child.stderr?.off("data", onData);
      resolve(lines);
      return true;
    };
    const onData = () => setImmediate(check);
    const timer = setTimeout(() => {
      server.child.stderr?.off("data", onData);
      reject(new Error(`expected ${count} access lines:\n${server.output()}`));
    }, timeoutMs);
    server.child.stderr?.on("data", onData);
    check();
  });
}

describe("access log", () => {
  let upstream: PypiUpstream;
  let file: PublishResult;
  let ws: MirrorWorkspace;
  const mirrors = () => ({
    px: { type: "pypi", mode: "proxy", upstream: upstream.url, indexes: ["simple"], retry_backoff: "10ms" },
  });

  before(async () => {
    upstream = await startPypiUpstream();
    file = await upstream.publish({ index: "simple", project: "demo", version: "1.0.0" });
    ws = createWorkspace({ access_log: true, mirrors: mirrors() });
  });

  after(async () => {
    await ws.cleanup();
    await upstream.close();
  });

  test("access_log: true logs one JSON line per request, after it is answered", async () => {
    const server = await ws.serve();
    try {
      const ua = { "user-agent": "access-log-test/1.0" };
      const page = await fetch(`${server.url}/px/simple/demo/`, {
        headers: { ...ua, accept: "application/vnd.pypi.simple.v1+json" },
      });
      assert.equal(page.status, 200);
      const pageBody = Buffer.from(await page.arrayBuffer());
      const listed = (JSON.parse(pageBody.toString()) as { files: { url: string }[] }).files[0];
      assert.ok(listed);
      const filePath = new URL(listed.url, `${server.url}/px/simple/demo/`).pathname;
      const fileUrl = `${server.url}${filePath}`;
      const miss = await fetch(fileUrl, { headers: ua });
      assert.equal(miss.headers.get("x-cache"), "MISS");
      assert.equal((await miss.arrayBuffer()).byteLength, file.size);
      // HIT, or COALESCED while the first download is still being committed.
      const hit = await fetch(fileUrl, { headers: ua });
      const second = hit.headers.get("x-cache");
      assert.ok(second === "HIT" || second === "COALESCED", `X-Cache: ${second}`);
      await hit.arrayBuffer();
      const missing = await fetch(`${server.url}/nope/?token=s3cr3t-value&page=2`, { headers: ua });
      assert.equal(missing.status, 404);
      await missing.arrayBuffer();

      const lines = await accessLinesReach(server, 4);
      assert.equal(lines.length, 4, "one line per request, no more");
      const [pageLine, missLine, hitLine, missingLine] = lines as [
        AccessLine,
        AccessLine,
        AccessLine,
        AccessLine,
      ];
      for (const line of lines) {
        assert.equal(line.level, "info");
        assert.ok(!Number.isNaN(Date.parse(line.time)), `an ISO time: ${line.time}`);
        assert.equal(line.method, "GET");
        assert.equal(line.ua, "access-log-test/1.0");
        assert.match(line.remote, /^(::ffff:)?127\.0\.0\.1$/);
        assert.equal(typeof line.durationMs, "number");
        assert.ok(line.durationMs >= 0);
        assert.equal(line.completed, true);
      }
      assert.deepEqual(
        [pageLine.path, pageLine.status, pageLine.bytes],
        ["/px/simple/demo/", 200, pageBody.length],
      );
      assert.equal(missLine.path, filePath);
      assert.deepEqual([missLine.status, missLine.bytes, missLine.cache], [200, file.size, "MISS"]);
      assert.deepEqual([hitLine.status, hitLine.bytes, hitLine.cache], [200, file.size, second]);
      assert.equal(missingLine.status, 404);
      assert.equal(missingLine.path, "/nope/?token=***&page=2", "a credential in the query is masked");
      assert.ok(!server.output().includes("s3cr3t-value"), "the secret is nowhere in serve's output");
    } finally {
      await server.stop();
    }
  });

  test("without access_log (the default) requests are not logged", async () => {
    ws.writeConfig({ mirrors: mirrors() });
    const server = await ws.serve();
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/px/simple/demo/`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      // Every line serve wrote is in once its output streams have closed.
      const closed = once(server.child, "close");
      await server.stop();
      await closed;
      assert.deepEqual(accessLines(server.output()), []);
    } finally {
      await server.stop();
    }
  });
});
