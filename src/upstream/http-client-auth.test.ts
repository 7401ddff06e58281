// Basic credentials go to the upstream's own origin only: not to another host a redirect leads
// to, nor to an allowed file host, even on the same machine. A request's own Authorization (a
// registry's Bearer token) goes to its URL's origin only, and never again once a redirect left it.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { UpstreamClient } from "./http-client.js";

async function listen(
  handler: (path: string, headers: IncomingHttpHeaders) => [number, Record<string, string>],
) {
  const seen: { path: string; authorization: string | undefined }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization });
    const [status, headers] = handler(req.url ?? "", req.headers);
    res.writeHead(status, headers).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    host: new URL(url).host,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("the Authorization header is sent to the upstream's origin and not after a redirect elsewhere", async () => {
  const files = await listen(() => [200, {}]);
  const upstream = await listen((path) =>
    path === "/moved" ? [302, { location: `${files.url}/f.whl` }] : [200, {}],
  );
  const header = `Basic ${Buffer.from("user:s3cret").toString("base64")}`;
  const client = new UpstreamClient({
    allowedHosts: [upstream.host, files.host],
    timeoutMs: 5000,
    retries: 0,
    backoffMs: 10,
    maxFails: 5,
    failTimeoutMs: 1000,
    authorization: { origin: upstream.url, header },
  });
  try {
    for (const url of [`${upstream.url}/simple/`, `${upstream.url}/moved`, `${files.url}/direct.whl`]) {
      const response = await client.send("GET", url, {});
      await response.body.dump();
      assert.equal(response.status, 200);
    }
    assert.deepEqual(upstream.seen, [
      { path: "/simple/", authorization: header },
      { path: "/moved", authorization: header },
    ]);
    assert.deepEqual(files.seen, [
      { path: "/f.whl", authorization: undefined },
      { path: "/direct.whl", authorization: undefined },
    ]);
  } finally {
    await client.close();
    await upstream.close();
    await files.close();
  }
});

test("a request's own Authorization goes to its URL's origin, not to a redirect target elsewhere, nor back", async () => {
  const storage = await listen((path) =>
    path === "/bounce" ? [302, { location: `${registry.url}/after-bounce` }] : [200, {}],
  );
  const registry = await listen((path) =>
    path.startsWith("/v2/blob")
      ? [
          307,
          { location: `${storage.url}${path === "/v2/blob-bounce" ? "/bounce" : "/signed?sig=s3cret-sig"}` },
        ]
      : path === "/v2/local"
        ? [302, { location: "/v2/moved-here" }]
        : [200, {}],
  );
  const configured = `Basic ${Buffer.from("user:configured").toString("base64")}`;
  const client = new UpstreamClient({
    allowedHosts: [registry.host],
    timeoutMs: 5000,
    retries: 0,
    backoffMs: 10,
    maxFails: 5,
    failTimeoutMs: 1000,
    authorization: { origin: registry.url, header: configured },
    hostPolicy: "follow-upstream",
  });
  try {
    const token = "Bearer registry-token";
    for (const path of ["/v2/blob", "/v2/local", "/v2/blob-bounce"]) {
      const response = await client.send("GET", `${registry.url}${path}`, {}, { authorization: token });
      await response.body.dump();
      assert.equal(response.status, 200);
    }
    // `null`: no Authorization at all, not even the configured one.
    const bare = await client.send("GET", `${registry.url}/v2/`, {}, { authorization: null });
    await bare.body.dump();
    assert.deepEqual(registry.seen, [
      { path: "/v2/blob", authorization: token },
      { path: "/v2/local", authorization: token },
      { path: "/v2/moved-here", authorization: token },
      { path: "/v2/blob-bounce", authorization: token },
      { path: "/after-bounce", authorization: undefined },
      { path: "/v2/", authorization: undefined },
    ]);
    assert.deepEqual(storage.seen, [
      { path: "/signed?sig=s3cret-sig", authorization: undefined },
      { path: "/bounce", authorization: undefined },
    ]);
  } finally {
    await client.close();
    await registry.close();
    await storage.close();
  }
});
