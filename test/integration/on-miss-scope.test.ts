// What `on_miss: fetch` reaches in mode: mirror, as README and docs/deploy.md say: a project
// outside `projects` is fetched from upstream on demand (its whole upstream page); a mirrored
// project's page is the snapshot's, so versions outside `versions` are not listed and pip never
// asks for them. A direct URL to such a file is still fetched through the pull-through cache.
// An omitted `projects:` mirrors every project of the index.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace } from "../helpers/freshmirror-cli.js";

const JSON_ACCEPT = "application/vnd.pypi.simple.v1+json";

async function filenames(url: string): Promise<string[]> {
  const res = await fetch(url, { headers: { accept: JSON_ACCEPT } });
  assert.equal(res.status, 200, `${url} answered ${res.status}`);
  return ((await res.json()) as { files: { filename: string }[] }).files.map((f) => f.filename).sort();
}

test("on_miss: fetch fetches projects outside `projects`, not versions outside `versions`; no `projects` mirrors all", async () => {
  const upstream = await startPypiUpstream({ indexes: ["simple"] });
  const [demo1, demo2, other] = await upstream.publishAll([
    { index: "simple", project: "demo", version: "1.0" },
    { index: "simple", project: "demo", version: "2.0" },
    { index: "simple", project: "other", version: "1.0" },
  ]);
  assert.ok(demo1 && demo2 && other);
  const base = {
    type: "pypi",
    upstream: upstream.url,
    indexes: ["simple"],
    versions: "<2",
    retry_backoff: "10ms",
  };
  const ws = createWorkspace({
    mirrors: {
      chosen: { ...base, projects: ["demo"], on_miss: "fetch" },
      whole: { ...base, on_miss: "404" },
    },
  });
  try {
    for (const name of ["chosen", "whole"]) {
      const sync = await ws.cli(["sync", name]);
      assert.equal(sync.code, 0, sync.stderr);
    }
    const server = await ws.serve();

    // A mirrored project: the snapshot's page, without 2.0, which `versions` leaves out.
    assert.deepEqual(await filenames(`${server.url}/chosen/simple/demo/`), [demo1.filename]);
    // A project outside `projects`: its upstream page, fetched on demand.
    assert.deepEqual(await filenames(`${server.url}/chosen/simple/other/`), [other.filename]);
    // A direct URL to a file the filters left out still goes through the pull-through cache.
    const direct = await fetch(`${server.url}/chosen${demo2.path}`);
    assert.equal(direct.status, 200);
    assert.equal(
      createHash("sha256")
        .update(Buffer.from(await direct.arrayBuffer()))
        .digest("hex"),
      demo2.sha256,
    );

    // No `projects`: every project of the index, filtered by `versions`; nothing fetched on demand.
    assert.deepEqual(await filenames(`${server.url}/whole/simple/demo/`), [demo1.filename]);
    assert.deepEqual(await filenames(`${server.url}/whole/simple/other/`), [other.filename]);
    const list = await fetch(`${server.url}/whole/simple/`, { headers: { accept: JSON_ACCEPT } });
    const names = ((await list.json()) as { projects: { name: string }[] }).projects
      .map((p) => p.name)
      .sort();
    assert.deepEqual(names, ["demo", "other"]);
    const excluded = await fetch(`${server.url}/whole${demo2.path}`);
    assert.equal(excluded.status, 404);
    await excluded.arrayBuffer();
  } finally {
    await ws.cleanup();
    await upstream.close();
  }
});
