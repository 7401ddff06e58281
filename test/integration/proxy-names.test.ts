// Proxy mirrors take only project names and index paths from clients: hostile segments never
// reach upstream nor the cache, and any index upstream serves (a new CUDA variant) works
// through patterns or an omitted `indexes`, without a config change.
import assert from "node:assert/strict";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { type PublishResult, type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { runPip } from "../helpers/pip.js";

describe("proxy names and indexes", () => {
  let upstream: PypiUpstream;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let cu132: PublishResult;
  let nightly: PublishResult;

  before(async () => {
    upstream = await startPypiUpstream({
      indexes: ["whl/cu121", "whl/cu132", "whl/nightly/cu128", "whl", "simple"],
    });
    await upstream.publish({ index: ["whl/cu121", "whl"], project: "torch", version: "2.5.1" });
    cu132 = await upstream.publish({ index: "whl/cu132", project: "torch", version: "2.9.0+cu132" });
    nightly = await upstream.publish({
      index: "whl/nightly/cu128",
      project: "torch",
      version: "2.10.0.dev1",
    });
    await upstream.publish({ index: "simple", project: "filelock", version: "3.13.1" });
    const common = { type: "pypi", mode: "proxy", upstream: upstream.url, retry_backoff: "10ms" };
    ws = createWorkspace({
      mirrors: {
        pp: { ...common, indexes: ["whl", "whl/*", "whl/nightly/*"] },
        anyidx: common,
      },
    });
    server = await ws.serve();
  });

  after(async () => {
    await ws.cleanup();
    await upstream.close();
  });

  /** A GET with the path sent exactly as written (fetch would resolve `%2e%2e` itself). */
  function rawGet(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      const req = request({ hostname, port, path, method: "GET" }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  function cachedRows(): number {
    const db = new Database(join(ws.dataDir, "state.sqlite"), { readonly: true, fileMustExist: true });
    try {
      return (
        (db.prepare("SELECT COUNT(*) FROM proxy_pages").pluck().get() as number) +
        (db.prepare("SELECT COUNT(*) FROM proxy_files").pluck().get() as number)
      );
    } finally {
      db.close();
    }
  }

  test("a project segment that is not a PEP 508 name is a 404 that never reaches upstream nor the cache", async () => {
    // Warm one page so the cache is not trivially empty.
    assert.equal((await fetch(`${server.url}/pp/whl/cu121/torch/`)).status, 200);
    const rowsBefore = cachedRows();
    upstream.clearLog();
    const hostile = [
      "a%3Fx%3D1/",
      "%252e%252e/",
      "a%23frag/",
      "torch%3F/",
      "torch%3F",
      "a%3Fx%3D1",
      "%25/",
      "-torch/",
      "torch%20x/",
      "t%C3%B6rch/",
      "torch%2F..%2F/",
      "%2e%2e/",
      "..%252f/",
    ];
    for (const mirror of ["pp", "anyidx"]) {
      for (const segment of hostile) {
        const res = await rawGet(`/${mirror}/whl/cu121/${segment}`);
        const body = res.body;
        assert.ok(res.status === 404 || res.status === 400, `${mirror} ${segment}: ${res.status} ${body}`);
        if (segment.endsWith("/") && res.status === 404) {
          assert.match(body, /not a project name|no index/, `${segment}: ${body}`);
        }
      }
      // Hostile index segments are no index: the project after them is never asked for.
      for (const path of ["whl/%3F/torch/", "whl/a%23b/torch/", "whl/%252e%252e/torch/", "%2Bfiles/torch/"]) {
        const res = await rawGet(`/${mirror}/${path}`);
        assert.ok(res.status === 404 || res.status === 400, `${mirror} ${path}: ${res.status}`);
      }
    }
    assert.deepEqual(
      upstream.requests.map((r) => r.path),
      [],
      "upstream was asked nothing",
    );
    assert.equal(cachedRows(), rowsBefore, "nothing was cached");
  });

  test("a valid name goes upstream percent-encoded and normalized", async () => {
    upstream.clearLog();
    const res = await fetch(`${server.url}/pp/whl/cu121/Torch/`, { redirect: "manual" });
    assert.equal(res.status, 301);
    assert.equal(res.headers.get("location"), "/pp/whl/cu121/torch/");
    assert.deepEqual(upstream.requests, []);
  });

  test("an index upstream serves but the config does not name works through a pattern and with no indexes", async () => {
    upstream.clearLog();
    for (const mirror of ["pp", "anyidx"]) {
      const page = await fetch(`${server.url}/${mirror}/whl/cu132/torch/`);
      assert.equal(page.status, 200, await page.clone().text());
      assert.ok((await page.text()).includes(cu132.filename));
      const deep = await fetch(`${server.url}/${mirror}/whl/nightly/cu128/torch/`);
      assert.equal(deep.status, 200);
      assert.ok((await deep.text()).includes(nightly.filename));
      // `whl` itself is an index too: /whl/torch/ is torch in `whl`, not an index `whl/torch`.
      const root = await fetch(`${server.url}/${mirror}/whl/torch/`);
      assert.equal(root.status, 200);
      assert.match(await root.text(), /torch-2\.5\.1-/);
    }
    const asked = upstream.requests.map((r) => r.path);
    assert.ok(asked.includes("/whl/cu132/torch/"), asked.join(" "));
    assert.ok(asked.includes("/whl/nightly/cu128/torch/"), asked.join(" "));
    assert.ok(asked.includes("/whl/torch/"), asked.join(" "));
    // Outside the patterns: no index, and upstream is not asked.
    upstream.clearLog();
    const simple = await fetch(`${server.url}/pp/simple/filelock/`);
    assert.equal(simple.status, 404);
    assert.match(await simple.text(), /no index/);
    assert.deepEqual(upstream.requests, []);
    const anySimple = await fetch(`${server.url}/anyidx/simple/filelock/`);
    assert.equal(anySimple.status, 200);
  });

  test("a direct file URL in an unlisted index is fetched cold, and pip installs from it", async () => {
    const direct = await fetch(`${server.url}/anyidx/whl/cu132/${encodeURIComponent(cu132.filename)}`);
    assert.equal(direct.status, 200, await direct.clone().text());
    assert.equal(Buffer.from(await direct.arrayBuffer()).length, cu132.size);
    const result = await runPip([
      "download",
      "--index-url",
      `${server.url}/pp/whl/cu132`,
      "--dest",
      join(ws.dir, "pip-dl"),
      "--no-deps",
      "torch==2.9.0+cu132",
    ]);
    assert.equal(result.code, 0, result.stderr);
  });
});
