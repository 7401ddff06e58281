// nodejs/undici#5360: an upstream that answers `Connection: close` and sends FIN while freshmirror
// holds the response body unread (its parser paused by backpressure) used to kill the process
// with an uncatchable `AssertionError: assert(!this.paused)` (python's http.server does exactly
// this). With the carried fix (patches/undici+7.30.2.patch) the body completes and is intact;
// a truncated body still fails. A raw TCP upstream, so the bytes and the FIN are exactly these.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { describe, test } from "node:test";
import { UpstreamClient } from "../../src/upstream/http-client.js";

interface RawUpstream {
  url: string;
  /** Resolves when the upstream's socket for the first request has fully closed. */
  closed(): Promise<void>;
  /** Resolves when the upstream has handed the whole response and its FIN to the kernel. */
  finished(): Promise<void>;
  close(): Promise<void>;
}

/** Answers every request with `head` and `body`, then FINs (socket.end()). */
async function rawUpstream(head: (body: Buffer) => string, body: Buffer): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  let firstSocket: { closed: Promise<void>; finished: Promise<void> } | undefined;
  let announce: () => void = () => {};
  const accepted = new Promise<void>((resolve) => {
    announce = resolve;
  });
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    if (firstSocket === undefined) {
      // Listening before any byte is written, so neither event can be missed.
      firstSocket = {
        closed: once(socket, "close").then(() => undefined),
        finished: once(socket, "finish").then(() => undefined),
      };
      announce();
    }
    socket.on("error", () => {});
    socket.once("data", () => {
      socket.write(head(body));
      socket.end(body);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    url: `http://127.0.0.1:${address.port}`,
    closed: () => accepted.then(() => firstSocket?.closed),
    finished: () => accepted.then(() => firstSocket?.finished),
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

function client(url: string): UpstreamClient {
  return new UpstreamClient({
    allowedHosts: [new URL(url).host],
    timeoutMs: 10_000,
    retries: 0,
    backoffMs: 10,
    maxFails: 100,
    failTimeoutMs: 1000,
  });
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

async function readAll(body: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A body past undici's 64 KiB highWaterMark (so the parser pauses) that still fits loopback buffers. */
function payload(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 9)) & 0xff;
  return bytes;
}

/**
 * The first scenario again in a child process: under node:test the AssertionError is swallowed
 * as an uncaught exception and the test hangs, while a real freshmirror process dies of it. The
 * child shows what an operator would see: exit code and stderr.
 */
const CHILD_SCRIPT = `
import { createServer } from "node:net";
import { once } from "node:events";
const { UpstreamClient } = await import(process.argv[1]);
const body = Buffer.alloc(64 * 1024, 0x61);
const server = createServer((s) => {
  s.once("data", () => {
    s.write("HTTP/1.1 200 OK\\r\\nContent-Length: " + body.length + "\\r\\nConnection: close\\r\\n\\r\\n");
    s.end(body);
  });
  s.on("close", async () => {
    let n = 0;
    for await (const chunk of response.body) n += chunk.length;
    process.stdout.write("read " + n + "\\n");
    server.close();
    await client.close();
  });
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const url = "http://127.0.0.1:" + server.address().port;
const client = new UpstreamClient({ allowedHosts: [new URL(url).host], timeoutMs: 10000, retries: 0, backoffMs: 1, maxFails: 9, failTimeoutMs: 1 });
const response = await client.send("GET", url + "/files/big.whl", {});
`;

// A test timeout, not a hang: under node:test the AssertionError is caught as an uncaught
// exception, the response never completes and the test would otherwise wait forever.
const TIMEOUT = { timeout: 30_000 };

describe("upstream closes its connection while the body waits unread (undici#5360)", () => {
  test(
    "a process holding the body unread survives the FIN (exit code 0, whole body read)",
    TIMEOUT,
    async () => {
      const clientModule = new URL("../../src/upstream/http-client.js", import.meta.url).href;
      const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD_SCRIPT, clientModule], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 0, `the process died: ${stderr}`);
      assert.equal(stdout, `read ${64 * 1024}\n`);
    },
  );

  test(
    "Content-Length body: the FIN meets the paused parser; the process survives and the body is complete",
    TIMEOUT,
    async (t) => {
      const body = payload(64 * 1024);
      const upstream = await rawUpstream(
        (b) => `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`,
        body,
      );
      const http = client(upstream.url);
      t.after(async () => {
        await http.close();
        await upstream.close();
      });
      const response = await http.send("GET", `${upstream.url}/files/big.whl`, {});
      assert.equal(response.status, 200);
      // Nothing reads the body until the upstream's socket is gone: the FIN met a paused parser
      // (64 KiB: past undici's highWaterMark, yet one socket read with the FIN behind it).
      await upstream.closed();
      const received = await readAll(response.body);
      assert.equal(received.length, body.length);
      assert.equal(sha256(received), sha256(body));
    },
  );

  test(
    "8 MiB Content-Length body read slowly after the FIN was sent: complete and intact",
    TIMEOUT,
    async (t) => {
      const body = payload(8 << 20);
      const upstream = await rawUpstream(
        (b) => `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`,
        body,
      );
      const http = client(upstream.url);
      t.after(async () => {
        await http.close();
        await upstream.close();
      });
      const response = await http.send("GET", `${upstream.url}/files/huge.whl`, {});
      const chunks: Buffer[] = [];
      // A slow reader (a disk write per chunk): the parser pauses again and again while the rest
      // of the body and the FIN wait on the socket.
      for await (const chunk of response.body) {
        chunks.push(chunk as Buffer);
        await new Promise((r) => setImmediate(r));
      }
      await upstream.finished();
      assert.equal(sha256(Buffer.concat(chunks)), sha256(body));
    },
  );

  test("EOF-delimited body (no Content-Length): complete after the FIN", TIMEOUT, async (t) => {
    const body = payload(64 * 1024);
    const upstream = await rawUpstream(() => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", body);
    const http = client(upstream.url);
    t.after(async () => {
      await http.close();
      await upstream.close();
    });
    const response = await http.send("GET", `${upstream.url}/files/eof.whl`, {});
    await upstream.closed();
    assert.equal(sha256(await readAll(response.body)), sha256(body));
  });

  test("a body cut short by the FIN is an error, never a clean short body", TIMEOUT, async (t) => {
    const body = payload(64 * 1024);
    const upstream = await rawUpstream(
      (b) => `HTTP/1.1 200 OK\r\nContent-Length: ${b.length * 2}\r\nConnection: close\r\n\r\n`,
      body,
    );
    const http = client(upstream.url);
    t.after(async () => {
      await http.close();
      await upstream.close();
    });
    const response = await http.send("GET", `${upstream.url}/files/short.whl`, {});
    await upstream.closed();
    await assert.rejects(readAll(response.body));
  });

  test("a page read through fetchPage survives the same close and parses whole", TIMEOUT, async (t) => {
    const links = Array.from({ length: 3000 }, (_, i) => `<a href="/files/p-${i}.whl">p-${i}.whl</a>`);
    const html = Buffer.from(`<!DOCTYPE html><html><body>\n${links.join("\n")}\n</body></html>\n`);
    const upstream = await rawUpstream(
      (b) =>
        `HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`,
      html,
    );
    const http = client(upstream.url);
    t.after(async () => {
      await http.close();
      await upstream.close();
    });
    const page = await http.fetchPage(`${upstream.url}/simple/p/`, "text/html");
    assert.equal(page.status, 200);
    assert.equal(page.body, html.toString("utf8"));
  });
});
