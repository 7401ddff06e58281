// Clients that request a large file and never read it, over real raw sockets, against the real
// server (a child process, whose memory we read from /proc): its memory stays bounded, file
// responses past max_file_responses get 503 with Retry-After, and send_timeout closes the
// stalled ones, which frees their slots.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type PublishResult, type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { metricSum, until } from "../helpers/until.js";

const MiB = 1024 * 1024;
const CAP = 40;
const SOCKETS = 60;

/** Resident memory of a process, from /proc/<pid>/status (Linux). */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(match, "VmRSS in /proc/<pid>/status");
  return Number(match[1]) * 1024;
}

interface StalledClient {
  socket: Socket;
  /** Everything received once reading resumes. */
  received: Buffer[];
  closed: Promise<void>;
}

/** Sends a GET over a raw socket and never reads the answer (until `resume`). */
function stalledGet(url: URL, path: string): Promise<StalledClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.pause();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      socket.on("data", (chunk: Buffer) => received.push(chunk));
      socket.on("error", () => undefined);
      resolve({ socket, received, closed });
    });
  });
}

/** A GET whose body is not wanted: status and headers, then the request is dropped. */
async function probe(url: string): Promise<Response> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  if (res.status === 200) controller.abort();
  return res;
}

describe("slow readers", () => {
  let upstream: PypiUpstream;
  let big: PublishResult;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let fileUrl: string;

  before(async () => {
    upstream = await startPypiUpstream({ indexes: ["simple"] });
    big = await upstream.publish({
      index: "simple",
      project: "bigwheel",
      version: "1.0.0",
      payloadBytes: 48 * MiB,
    });
    ws = createWorkspace({
      max_file_responses: CAP,
      send_timeout: "3s",
      mirrors: { m: { type: "pypi", mode: "proxy", upstream: upstream.url, indexes: ["simple"] } },
    });
    server = await ws.serve();
    fileUrl = `${server.url}/m/simple/${encodeURIComponent(big.filename)}`;
    // Into the store first: the stalled clients below are served from disk.
    const warm = await fetch(fileUrl);
    assert.equal(warm.status, 200);
    assert.equal(Buffer.from(await warm.arrayBuffer()).length, big.size);
    const hit = await fetch(fileUrl, { method: "HEAD" });
    assert.equal(hit.headers.get("x-cache"), "HIT");
  });

  after(async () => {
    await ws.cleanup();
    await upstream.close();
  });

  test(`${SOCKETS} sockets that never read: bounded memory, 503 + Retry-After past the cap, closed after send_timeout`, async (t) => {
    const pid = server.child.pid;
    assert.ok(pid !== undefined);
    const before = rssBytes(pid);
    const path = new URL(fileUrl).pathname;
    const clients = await Promise.all(
      Array.from({ length: SOCKETS }, () => stalledGet(new URL(server.url), path)),
    );
    const stalledAt = Date.now();
    try {
      // Every stalled request has been read (a written request is not yet a taken slot: a probe
      // sent earlier could take one, and a stalled client would get its 503) ...
      await until(
        async () =>
          (await metricSum(server.url, "freshmirror_file_responses_active")) === CAP &&
          (await metricSum(server.url, "freshmirror_file_responses_refused_total")) === SOCKETS - CAP,
        `${CAP} stalled responses holding every slot and ${SOCKETS - CAP} refused (metrics)`,
      );
      // ... and the next request is refused, clearly.
      const busy = await probe(fileUrl);
      assert.equal(busy.status, 503, "a request past max_file_responses gets 503");
      assert.equal(busy.headers.get("retry-after"), "5");
      assert.match(await busy.text(), /too many file downloads in progress \(max_file_responses is 40\)/);
      // Let every stalled response fill what it can, then read the server's memory.
      await new Promise((r) => setTimeout(r, 1000));
      const stalled = rssBytes(pid);
      const growth = stalled - before;
      t.diagnostic(
        `server RSS ${(before / MiB).toFixed(1)} MiB before, ${(stalled / MiB).toFixed(1)} MiB with ${CAP} stalled responses (+${(growth / MiB).toFixed(1)} MiB)`,
      );
      assert.ok(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);

      // send_timeout (3 s) closes the stalled responses: their slots free up.
      await until(
        async () => (await probe(fileUrl)).status === 200,
        "a slot freed by send_timeout",
        15_000,
        100,
      );
      const freedAfter = Date.now() - stalledAt;
      t.diagnostic(`slots free ${freedAfter} ms after the sockets stalled`);
      assert.ok(freedAfter >= 2500, `freed after ${freedAfter} ms, before send_timeout`);
      t.diagnostic(`server RSS after the timeouts: ${(rssBytes(pid) / MiB).toFixed(1)} MiB`);
      // The stalled responses did not all stall at once (each when its socket buffers filled), so
      // each times out send_timeout after its own stall: wait until every slot is free again (CAP
      // probes at once all get 200) before the clients read, or a late one would finish its body.
      await until(
        async () => (await metricSum(server.url, "freshmirror_file_responses_active")) === 0,
        "every stalled response timed out, freeing all max_file_responses slots",
      );

      // Reading again, each client that got a 200 finds its transfer cut short by the server.
      for (const client of clients) client.socket.resume();
      const heads = await Promise.all(
        clients.map(async (client) => {
          const deadline = Date.now() + 5000;
          while (Buffer.concat(client.received).length < 12 && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 20));
          return Buffer.concat(client.received).subarray(0, 12).toString("latin1");
        }),
      );
      const servedClients = clients.filter((_, i) => heads[i] === "HTTP/1.1 200");
      assert.equal(
        heads.filter((h) => h === "HTTP/1.1 503").length,
        SOCKETS - CAP,
        "the clients past the cap got 503",
      );
      const allClosed = await Promise.race([
        Promise.all(servedClients.map((c) => c.closed)).then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 20_000)),
      ]);
      const open = servedClients.filter((c) => !c.socket.destroyed).length;
      assert.ok(allClosed, `the server closed every stalled connection; ${open} still open`);
      let cut = 0;
      for (const client of servedClients) {
        const bytes = client.received.reduce((n, b) => n + b.length, 0);
        assert.ok(bytes < big.size, `a stalled client got ${bytes} of ${big.size} bytes before the close`);
        cut++;
      }
      assert.equal(cut, CAP, "exactly max_file_responses clients were served");
    } finally {
      for (const client of clients) client.socket.destroy();
    }
  });
});
