// A proxied page is rendered once per upstream version; after a restart it is rendered again
// from the stored body (in the page worker), not fetched or parsed again while it is fresh.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { startServer } from "../../src/http/server.js";
import { pageWorkStats } from "../../src/pypi/page-worker-pool.js";
import { publishTorchLike, startPypiUpstream } from "../fixtures/pypi-upstream.js";

test("after a restart a cached page is rendered from the stored body, byte for byte the same", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-restart-"));
  const upstream = await startPypiUpstream();
  try {
    await publishTorchLike(upstream);
    const config = parseConfigText(
      stringify({
        data_dir: join(dir, "data"),
        mirrors: { pp: { type: "pypi", mode: "proxy", upstream: upstream.url, indexes: ["whl/*"] } },
      }),
      "restart test",
    );
    const read = async (accept?: string) => {
      const app = await App.open(config);
      const server = await startServer(app, "127.0.0.1", 0);
      try {
        const res = await fetch(`${server.url}/pp/whl/cu121/torch/`, accept ? { headers: { accept } } : {});
        return { status: res.status, etag: res.headers.get("etag"), body: await res.text() };
      } finally {
        await server.close();
        await app.close();
      }
    };
    const start = { ...pageWorkStats };
    const first = await read();
    assert.equal(first.status, 200);
    assert.match(first.body, /torch-2\.6\.0%2Bcu121-cp312/);
    upstream.clearLog();
    const again = await read();
    assert.deepEqual(again, first, "the same bytes and ETag after a restart");
    const json = await read("application/vnd.pypi.simple.v1+json");
    assert.equal(JSON.parse(json.body).name, "torch");
    assert.deepEqual(upstream.requests, [], "a fresh page is not asked for again");
    assert.equal(pageWorkStats.parses - start.parses, 1, "parsed once");
    assert.equal(pageWorkStats.renders - start.renders, 2, "rendered from the stored body once per restart");
  } finally {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
