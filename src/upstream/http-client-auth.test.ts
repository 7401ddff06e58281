// Basic credentials go to the upstream's own origin only: not to another host a redirect leads
// to, nor to an allowed file host, even on the same machine.
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
