// The per-host circuit breaker of the upstream client (nginx's max_fails / fail_timeout): it opens
// after max_fails failures in a row, refuses requests to that host for fail_timeout without
// sending them, then lets requests through again. Real requests to loopback servers; the clock
// the breaker reads (Date) is mocked, so fail_timeout passes without waiting.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { UpstreamCircuitOpenError, UpstreamNetworkError, UpstreamStatusError } from "../errors.js";
import { UpstreamClient } from "./http-client.js";

const MAX_FAILS = 3;
const FAIL_TIMEOUT_MS = 60_000;

interface Upstream {
  url: string;
  host: string;
  /** Requests that reached it. */
  hits: number;
  /** Status it answers with. */
  status: number;
  close(): Promise<void>;
}

async function startUpstream(status = 200): Promise<Upstream> {
  const upstream: Upstream = {
    url: "",
    host: "",
    hits: 0,
    status,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((_req, res) => {
    upstream.hits++;
    res.writeHead(upstream.status, { "content-type": "text/plain" }).end(`status ${upstream.status}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  upstream.host = new URL(upstream.url).host;
  return upstream;
}

/** A loopback port nothing listens on: connections are refused. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

describe("upstream circuit breaker", () => {
  let a: Upstream;
  let b: Upstream;
  let client: UpstreamClient;

  beforeEach(async () => {
    a = await startUpstream(503);
    b = await startUpstream(200);
    // Only Date: undici's own timers and the loopback sockets run on real time.
    mock.timers.enable({ apis: ["Date"], now: Date.parse("2025-06-01T00:00:00Z") });
    client = new UpstreamClient({
      allowedHosts: [a.host, b.host],
      timeoutMs: 5000,
      retries: 0,
      backoffMs: 1,
      maxFails: MAX_FAILS,
      failTimeoutMs: FAIL_TIMEOUT_MS,
    });
  });

  afterEach(async () => {
    mock.timers.reset();
    await client.close();
    await a.close();
    await b.close();
  });

  /** One GET; the status, or the error it threw. */
  async function get(upstream: Upstream, path = "/f.whl"): Promise<number | Error> {
    try {
      const response = await client.send("GET", `${upstream.url}${path}`, {});
      await response.body.dump();
      return response.status;
    } catch (error) {
      return error as Error;
    }
  }

  async function failUntilOpen(upstream: Upstream): Promise<void> {
    for (let i = 0; i < MAX_FAILS; i++) assert.equal(await get(upstream), upstream.status);
  }

  test("stays closed below max_fails, opens at max_fails failures in a row", async () => {
    for (let i = 1; i < MAX_FAILS; i++) {
      assert.equal(await get(a), 503);
      assert.equal(client.isCircuitOpen(a.url), false, `open after ${i} failures`);
    }
    assert.equal(await get(a), 503);
    assert.equal(client.isCircuitOpen(`${a.url}/anything/else`), true);
    assert.equal(a.hits, MAX_FAILS);
  });

  test("while open, requests fail fast with FM_ERR_UPSTREAM_CIRCUIT_OPEN and never reach the host", async () => {
    await failUntilOpen(a);
    const sent = client.requestCount;
    for (let i = 0; i < 5; i++) {
      const error = await get(a, "/other.whl?token=s3cret");
      assert.ok(error instanceof UpstreamCircuitOpenError, String(error));
      assert.equal(error.code, "FM_ERR_UPSTREAM_CIRCUIT_OPEN");
      assert.equal(error.status, 502);
      assert.match(error.message, new RegExp(`upstream ${a.host} failed repeatedly`));
      assert.match(error.message, /503/, "names the failure that opened it");
      assert.match(error.message, /2025-06-01T00:01:00\.000Z/, "says until when");
    }
    assert.equal(a.hits, MAX_FAILS);
    assert.equal(client.requestCount, sent, "refused requests are not counted as sent");
  });

  test("stays open for all of fail_timeout, then lets a request through (half-open); a success closes it", async () => {
    await failUntilOpen(a);
    mock.timers.tick(FAIL_TIMEOUT_MS - 1);
    assert.ok((await get(a)) instanceof UpstreamCircuitOpenError, "1 ms before fail_timeout ends");
    assert.equal(a.hits, MAX_FAILS);
    mock.timers.tick(1);
    assert.equal(client.isCircuitOpen(a.url), false);
    a.status = 200;
    assert.equal(await get(a), 200, "the probe goes through");
    assert.equal(a.hits, MAX_FAILS + 1);
    // Closed, with a clean count: it takes max_fails new failures to open it again.
    a.status = 503;
    for (let i = 1; i < MAX_FAILS; i++) assert.equal(await get(a), 503);
    assert.equal(client.isCircuitOpen(a.url), false);
    assert.equal(await get(a), 503);
    assert.equal(client.isCircuitOpen(a.url), true);
  });

  test("after fail_timeout a host still failing gets max_fails new tries before it opens again", async () => {
    await failUntilOpen(a);
    mock.timers.tick(FAIL_TIMEOUT_MS);
    for (let i = 1; i < MAX_FAILS; i++) {
      assert.equal(await get(a), 503);
      assert.equal(client.isCircuitOpen(a.url), false);
    }
    assert.equal(await get(a), 503);
    assert.equal(client.isCircuitOpen(a.url), true, "open again for another fail_timeout");
    mock.timers.tick(FAIL_TIMEOUT_MS - 1);
    assert.ok((await get(a)) instanceof UpstreamCircuitOpenError);
    assert.equal(a.hits, 2 * MAX_FAILS);
  });

  test("a success between failures resets the count", async () => {
    for (let round = 0; round < 3; round++) {
      a.status = 503;
      for (let i = 1; i < MAX_FAILS; i++) assert.equal(await get(a), 503);
      a.status = 200;
      assert.equal(await get(a), 200);
    }
    assert.equal(client.isCircuitOpen(a.url), false);
  });

  test("per host: one host's open circuit leaves another host alone", async () => {
    await failUntilOpen(a);
    assert.equal(client.isCircuitOpen(a.url), true);
    assert.equal(client.isCircuitOpen(b.url), false);
    assert.equal(await get(b), 200);
    assert.equal(b.hits, 1);
    // A success on b does not close a.
    assert.ok((await get(a)) instanceof UpstreamCircuitOpenError);
  });

  test("4xx answers are not failures; 429 and 5xx are", async () => {
    a.status = 404;
    for (let i = 0; i < MAX_FAILS * 2; i++) assert.equal(await get(a), 404);
    assert.equal(client.isCircuitOpen(a.url), false);
    a.status = 429;
    await failUntilOpen(a);
    assert.equal(client.isCircuitOpen(a.url), true);
  });

  test("connection failures count, and the open circuit names the network error", async () => {
    const dead = await closedPort();
    const deadClient = new UpstreamClient({
      allowedHosts: [dead],
      timeoutMs: 5000,
      retries: 0,
      backoffMs: 1,
      maxFails: MAX_FAILS,
      failTimeoutMs: FAIL_TIMEOUT_MS,
    });
    try {
      for (let i = 0; i < MAX_FAILS; i++) {
        await assert.rejects(deadClient.send("GET", `http://${dead}/f.whl`, {}), UpstreamNetworkError);
      }
      const refused = await deadClient.send("GET", `http://${dead}/f.whl`, {}).catch((e: unknown) => e);
      assert.ok(refused instanceof UpstreamCircuitOpenError);
      assert.match(refused.message, /ECONNREFUSED/, "names the last failure");
      assert.ok(refused.cause instanceof Error, "the last failure is the cause");
    } finally {
      await deadClient.close();
    }
  });

  test("fetchPage does not retry into an open circuit", async () => {
    await failUntilOpen(a);
    const retrying = new UpstreamClient({ ...client.options, retries: 5 });
    try {
      // The breaker is per client: open this one's too.
      for (let i = 0; i < MAX_FAILS; i++)
        await retrying.send("GET", `${a.url}/f`, {}).then((r) => r.body.dump());
      const hits = a.hits;
      await assert.rejects(retrying.fetchPage(`${a.url}/simple/x/`, "text/html"), UpstreamCircuitOpenError);
      assert.equal(a.hits, hits, "no request sent");
    } finally {
      await retrying.close();
    }
  });

  test("fetchPage's own retries count towards max_fails and stop once the circuit opens", async () => {
    const retrying = new UpstreamClient({ ...client.options, retries: MAX_FAILS + 3 });
    try {
      const error = await retrying.fetchPage(`${a.url}/simple/x/`, "text/html").catch((e: unknown) => e);
      assert.ok(error instanceof UpstreamCircuitOpenError, String(error));
      assert.equal(a.hits, MAX_FAILS);
      assert.ok(!(error instanceof UpstreamStatusError));
    } finally {
      await retrying.close();
    }
  });
});
