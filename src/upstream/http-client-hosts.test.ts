// Which hosts the upstream client reaches. "allowlist" (PyPI): every request and every redirect
// hop must be on an allowed host. "follow-upstream" (OCI): requests start on an allowed host, a
// redirect may lead to any http(s) host, and so may a URL the upstream named (a token realm).
// Never a non-http(s) URL. And a caller's abort is not an upstream failure for the breaker.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { NotAllowedHostError } from "../errors.js";
import { type HostPolicy, UpstreamClient } from "./http-client.js";

const servers: Server[] = [];
const clients: UpstreamClient[] = [];

after(async () => {
  for (const c of clients) await c.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function listen(answer: (path: string) => [number, Record<string, string>] | undefined) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? "");
    const answered = answer(req.url ?? "");
    // undefined: never answer (the request hangs until the client gives up).
    if (answered) res.writeHead(answered[0], answered[1]).end("ok");
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, host: new URL(url).host, seen };
}

function client(allowedHosts: string[], hostPolicy?: HostPolicy, maxFails = 5): UpstreamClient {
  const c = new UpstreamClient({
    allowedHosts,
    timeoutMs: 5000,
    retries: 0,
    backoffMs: 10,
    maxFails,
    failTimeoutMs: 60_000,
    ...(hostPolicy ? { hostPolicy } : {}),
  });
  clients.push(c);
  return c;
}

async function status(pending: Promise<{ status: number; body: { dump(): Promise<unknown> } }>) {
  const response = await pending;
  await response.body.dump();
  return response.status;
}

test("allowlist: a redirect to a host outside it is refused and that host gets no request", async () => {
  const other = await listen(() => [200, {}]);
  const upstream = await listen(() => [302, { location: `${other.url}/f.whl` }]);
  const c = client([upstream.host]);
  await assert.rejects(c.send("GET", `${upstream.url}/moved`, {}), NotAllowedHostError);
  assert.deepEqual(other.seen, []);
  // A URL the upstream named is no exception under the allowlist.
  await assert.rejects(
    c.send("GET", `${other.url}/token`, {}, { namedByUpstream: true }),
    NotAllowedHostError,
  );
  assert.deepEqual(other.seen, []);
});

test("follow-upstream: redirects reach any http(s) host; a first URL off the allowlist only when the upstream named it", async () => {
  const storage = await listen(() => [200, {}]);
  const registry = await listen(() => [307, { location: `${storage.url}/blob` }]);
  const c = client([registry.host], "follow-upstream");
  assert.equal(await status(c.send("GET", `${registry.url}/v2/a/blobs/x`, {})), 200);
  assert.deepEqual(storage.seen, ["/blob"]);
  await assert.rejects(c.send("GET", `${storage.url}/direct`, {}), NotAllowedHostError);
  assert.equal(await status(c.send("GET", `${storage.url}/token`, {}, { namedByUpstream: true })), 200);
  assert.deepEqual(storage.seen, ["/blob", "/token"]);
});

test("a redirect to a non-http(s) URL is refused under either policy, without the credentials in it", async () => {
  const targets = ["ftp://user:pw-Secret-9@127.0.0.1/x", "file:///etc/passwd", "data:text/plain,hi"];
  let next = 0;
  const upstream = await listen(() => [302, { location: targets[next++ % targets.length] as string }]);
  for (const policy of ["allowlist", "follow-upstream"] as const) {
    const c = client([upstream.host], policy);
    for (const target of targets) {
      const error = await c.send("GET", `${upstream.url}/moved`, {}).catch((e: unknown) => e);
      assert.ok(error instanceof NotAllowedHostError, `${policy} ${target}: ${String(error)}`);
      assert.equal(error.code, "FM_ERR_UPSTREAM_HOST_NOT_ALLOWED");
      assert.match(error.message, /only http\(s\) URLs/);
      assert.ok(!error.message.includes("pw-Secret-9"), error.message);
    }
    // As the first URL too.
    await assert.rejects(
      c.send("GET", "file:///etc/passwd", {}, { namedByUpstream: true }),
      NotAllowedHostError,
    );
  }
});

test("a caller's abort is not an upstream failure; a deadline running out is", async () => {
  const silent = await listen(() => undefined);
  const c = client([silent.host], "allowlist", 1);
  const controller = new AbortController();
  const pending = c.send("GET", `${silent.url}/a`, {}, { signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(pending, (e: unknown) => (e as Error).name === "AbortError");
  assert.equal(c.isCircuitOpen(silent.url), false, "a client leaving does not open the breaker");
  await assert.rejects(
    c.send("GET", `${silent.url}/b`, {}, { signal: AbortSignal.timeout(100) }),
    (e: unknown) => (e as Error).name === "TimeoutError",
  );
  assert.equal(c.isCircuitOpen(silent.url), true, "max_fails 1: the timed-out request opened it");
});
