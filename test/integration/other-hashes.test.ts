// Indexes that list a file with a hash other than sha256 (`#sha512=…`, `#md5=…`, PEP 691
// `hashes: { sha512 }`): the bytes are checked against that hash before they are stored, in a
// sync and on demand, so "no sha256" never means "not verified". Real parts: the fixture upstream
// (building real wheels, injecting wrong bytes), `freshmirror sync`/`serve`, real pip.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace } from "../helpers/freshmirror-cli.js";
import {
  assertStoreIntact,
  blobPath,
  INDEX,
  JSON_ACCEPT,
  MIRROR,
  servedView,
  sha256Hex,
  startMirror,
  tempFiles,
} from "../helpers/mirror-harness.js";
import { pipInstallNames } from "../helpers/pip.js";

describe("hashes other than sha256", () => {
  test("sync: a file listed with sha512 only is checked and served; wrong bytes under md5 fail the run, the snapshot stays", async (t) => {
    const h = await startMirror({
      upstream: { format: "json" },
      extra: [{ index: INDEX, project: "demo", version: "1.1", hashName: "sha512" }],
    });
    t.after(() => h.close());
    const sha512File = h.published.find((f) => f.filename.startsWith("demo-1.1-"));
    assert.ok(sha512File);
    const page = await (await fetch(`${h.server.url}/${MIRROR}/${INDEX}/demo/`)).text();
    assert.ok(
      page.includes(`${sha512File.filename}#sha256=${sha512File.sha256}`),
      `the mirror lists the checked file with its sha256:\n${page}`,
    );
    assert.ok(existsSync(blobPath(h.ws.dataDir, sha512File.sha256)));

    const before = await servedView(h.server);
    const bad = await h.upstream.publish({ index: INDEX, project: "demo", version: "2.0", hashName: "md5" });
    const fault = h.upstream.fault({ match: bad.filename, kind: "wrongBytes" });
    const sync = await h.ws.cli(["sync", MIRROR]);
    assert.equal(sync.code, 1, sync.stdout + sync.stderr);
    assert.match(sync.stdout, /md5 mismatch for demo-2\.0-py3-none-any\.whl/);
    assert.equal(fault.hits, 1);
    const wrong = /hash to ([0-9a-f]{32})/.exec(sync.stdout)?.[1];
    assert.ok(wrong, `the md5 of the downloaded bytes is named:\n${sync.stdout}`);
    assertStoreIntact(h.ws.dataDir);
    assert.ok(!existsSync(blobPath(h.ws.dataDir, bad.sha256)));
    assert.deepEqual(tempFiles(h.ws.dataDir), [], "no temp file left behind");
    assert.deepEqual(await servedView(h.server), before, "the previous snapshot is served unchanged");

    const installed = await pipInstallNames(`${h.server.url}/${MIRROR}/${INDEX}`, ["demo==1.1"]);
    assert.ok(installed.includes("demo-1.1.dist-info"), installed.join(" "));
  });

  test("on demand: wrong bytes under a sha512 fragment reach the client as a failed transfer and are not kept; the next request gets the file", async (t) => {
    const upstream = await startPypiUpstream({ indexes: [INDEX] });
    t.after(() => upstream.close());
    const file = await upstream.publish({
      index: INDEX,
      project: "big",
      version: "1.0",
      payloadBytes: 1 << 20,
      hashName: "sha512",
    });
    const ws = createWorkspace({
      mirrors: { [MIRROR]: { type: "pypi", mode: "proxy", upstream: upstream.url, indexes: [INDEX] } },
    });
    t.after(() => ws.cleanup());
    const server = await ws.serve();
    const page = await (await fetch(`${server.url}/${MIRROR}/${INDEX}/big/`)).text();
    assert.ok(page.includes(file.filename), page);
    const url = `${server.url}/${MIRROR}/${INDEX}/${encodeURIComponent(file.filename)}`;

    const fault = upstream.fault({ match: file.filename, kind: "wrongBytes", times: 1 });
    await assert.rejects(
      (async () => {
        const res = await fetch(url);
        await res.arrayBuffer();
      })(),
      "a client must see a failed transfer, not a complete-looking body",
    );
    assert.equal(fault.hits, 1);
    assert.match(server.output(), /sha512 mismatch for big-1\.0-py3-none-any\.whl/);
    assertStoreIntact(ws.dataDir);
    assert.ok(!existsSync(blobPath(ws.dataDir, file.sha256)));

    const retry = await fetch(url);
    assert.equal(retry.status, 200);
    const body = Buffer.from(await retry.arrayBuffer());
    assert.equal(sha256Hex(body), file.sha256);

    // The pages pass upstream's sha512 on, so that pip checks it as the mirror did.
    const sha512 = createHash("sha512").update(body).digest("hex");
    const html = await (await fetch(`${server.url}/${MIRROR}/${INDEX}/big/`)).text();
    assert.ok(html.includes(`${file.filename}#sha512=${sha512}"`), html);
    const json = (await (
      await fetch(`${server.url}/${MIRROR}/${INDEX}/big/`, { headers: { accept: JSON_ACCEPT } })
    ).json()) as { files: { filename: string; hashes: Record<string, string> }[] };
    assert.deepEqual(json.files.find((f) => f.filename === file.filename)?.hashes, { sha512 });
    const installed = await pipInstallNames(`${server.url}/${MIRROR}/${INDEX}`, ["big==1.0"]);
    assert.ok(installed.includes("big-1.0.dist-info"), installed.join(" "));
  });
});
