// Timeouts that end what they time out. An upstream that drips its pages a byte a second: in proxy
// mode the page timeout aborts the upstream request (its connection is closed), pages and files
// use separate connection pools so files keep flowing while pages are stuck, and a sync's page
// read has a total deadline instead of hanging forever. Real CLI and server, a local upstream.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { buildWheel } from "../fixtures/wheel-builder.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";

// A real wheel (a .whl must be a complete zip to be kept), 3 MiB so it takes a moment to send.
const BUILT = buildWheel({ project: "okpkg", version: "1.0", payloadBytes: 3 << 20 });
const WHEEL = BUILT.filename;
const WHEEL_BYTES = BUILT.bytes;
const WHEEL_SHA = BUILT.sha256;

interface DripUpstream {
  url: string;
  /** Connections open now on which a dripping page is being sent. */
  openDrips(): number;
  dripsStarted(): number;
  close(): Promise<void>;
}

/** `/simple/drip-*​/` sends its headers, then one byte a second, forever; the rest is healthy. */
async function dripUpstream(): Promise<DripUpstream> {
  const dripping = new Set<Socket>();
  const sockets = new Set<Socket>();
  let started = 0;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path.startsWith("/simple/drip-")) {
      started++;
      const socket = req.socket;
      dripping.add(socket);
      socket.once("close", () => dripping.delete(socket));
      res.writeHead(200, { "content-type": "text/html", "content-length": 1_000_000 });
      res.write("<");
      const timer = setInterval(() => res.write(" "), 1000);
      socket.once("close", () => clearInterval(timer));
      return;
    }
    if (path === "/simple/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        '<!DOCTYPE html><html><body><a href="okpkg/">okpkg</a><a href="drip-1/">drip-1</a></body></html>',
      );
      return;
    }
    if (path === "/simple/okpkg/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        `<!DOCTYPE html><html><body><a href="/files/${WHEEL}#sha256=${WHEEL_SHA}">${WHEEL}</a></body></html>`,
      );
      return;
    }
    if (path === `/files/${WHEEL}`) {
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": WHEEL_BYTES.length,
      });
      res.end(WHEEL_BYTES);
      return;
    }
    res.writeHead(404).end();
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    url: `http://127.0.0.1:${address.port}`,
    openDrips: () => dripping.size,
    dripsStarted: () => started,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function timed(url: string): Promise<{ status: number; body: Buffer; ms: number }> {
  const start = Date.now();
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body, ms: Date.now() - start };
}

// Test timeouts, since before the fix a starved file request (or a sync) simply never ends.
describe("upstream timeouts end the upstream request", () => {
  let upstream: DripUpstream;
  let ws: MirrorWorkspace;
  let server: RunningServe;

  before(async () => {
    upstream = await dripUpstream();
    ws = createWorkspace({
      mirrors: {
        proxy: {
          type: "pypi",
          mode: "proxy",
          upstream: upstream.url,
          indexes: ["simple"],
          upstream_timeout: "2s",
          // The per-host breaker would rightly open after 40 timeouts and answer 502 for
          // fail_timeout; kept shut here so the pools themselves are what is tested.
          max_fails: 1000,
        },
        synced: {
          type: "pypi",
          upstream: upstream.url,
          indexes: ["simple"],
          projects: ["drip-1"],
          upstream_timeout: "1s",
          retries: 0,
        },
      },
    });
    server = await ws.serve();
  });

  after(async () => {
    await ws?.cleanup();
    await upstream?.close();
  });

  test("40 dripping pages time out, close their upstream connections, and never starve files or later pages", {
    timeout: 60_000,
  }, async () => {
    // The healthy page is cached first, so its file can be asked for while the pages drip.
    const okPage = await timed(`${server.url}/proxy/simple/okpkg/`);
    assert.equal(okPage.status, 200);
    const href = /href="([^"#]+)/.exec(okPage.body.toString())?.[1];
    assert.ok(href, okPage.body.toString());
    const fileUrl = new URL(href, `${server.url}/proxy/simple/okpkg/`).href;

    const drips = Array.from({ length: 40 }, (_, i) => timed(`${server.url}/proxy/simple/drip-${i}/`));
    await waitFor("the page pool to fill with dripping pages", () => upstream.openDrips() >= 16, 10_000);
    // Let the other requests reach the pool too (a shared pool of 32 would now be full).
    await new Promise((r) => setTimeout(r, 500));
    // Pages hold every page connection now; a file still downloads at once on its own pool.
    const during = await timed(fileUrl);
    assert.equal(during.status, 200, during.body.toString().slice(0, 500));
    assert.equal(createHash("sha256").update(during.body).digest("hex"), WHEEL_SHA);
    assert.ok(upstream.openDrips() >= 16, "the file was fetched while pages were still dripping");
    assert.ok(
      upstream.openDrips() <= 16,
      `pages took ${upstream.openDrips()} connections, more than their share`,
    );

    const answers = await Promise.all(drips);
    for (const answer of answers)
      assert.equal(answer.status, 504, `a dripping page answered ${answer.status}`);
    // Each one answered near its 2 s deadline (queued ones start their clock when asked, too).
    assert.ok(
      Math.max(...answers.map((a) => a.ms)) < 15_000,
      `slowest ${Math.max(...answers.map((a) => a.ms))} ms`,
    );
    // The timeout aborted the upstream requests: their connections are closed, none left dripping.
    await waitFor("every dripping upstream connection to close", () => upstream.openDrips() === 0, 5_000);

    const page = await timed(`${server.url}/proxy/simple/`);
    assert.equal(page.status, 200);
    assert.ok(page.ms < 2_000, `a page after the timeouts took ${page.ms} ms`);
    const again = await timed(`${server.url}/proxy/simple/drip-0/`);
    assert.equal(again.status, 504, "still dripping, still timed out, not hung");
  });

  test("freshmirror sync of a dripping page fails with a timeout naming the page, within its deadline", {
    timeout: 90_000,
  }, async () => {
    const started = Date.now();
    const sync = await ws.cli(["sync", "synced"], { timeoutMs: 60_000 });
    const ms = Date.now() - started;
    assert.equal(sync.signal, null, `sync hung and was killed after ${ms} ms`);
    assert.equal(sync.code, 1, sync.stdout + sync.stderr);
    // upstream_timeout 1s: a page read may take 6 × 1 s in all, headers and body.
    assert.match(
      sync.stdout + sync.stderr,
      /did not answer within 6000 ms for http:\/\/127\.0\.0\.1:\d+\/simple\/drip-1\//,
    );
    assert.ok(ms < 30_000, `sync took ${ms} ms`);
  });
});
