// Bad input gets a clear error, and nothing is lost (issue 2, item 10). Each test syncs a small
// catalogue from the fixture upstream with the real CLI, serves it with the real server, then
// injects one fault and checks three things: the run fails (or recovers) with a message naming
// what went wrong; `serve` keeps serving the previous snapshot byte for byte; and nothing
// unverified ever reaches the blob store or lingers in data_dir/tmp.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { formatBytes } from "../../src/config/duration.js";
import type { SyncReport } from "../../src/sync/run-lifecycle.js";
import { buildWheel } from "../fixtures/wheel-builder.js";
import { cliArgv, createWorkspace } from "../helpers/freshmirror-cli.js";
import {
  assertStoreIntact,
  blobPath,
  collect,
  INDEX,
  MIRROR,
  type MirrorHarness,
  mirrorConfig,
  runRecords,
  servedFilenames,
  servedView,
  sha256Hex,
  startMirror,
  syncJson,
  tempFiles,
} from "../helpers/mirror-harness.js";
import { pipInstallNames } from "../helpers/pip.js";

const reEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("sync faults: clear errors, previous snapshot kept", () => {
  test("a file whose bytes do not match the index's sha256 fails the run naming it and both hashes; nothing is stored", async (t) => {
    const h = await startMirror();
    t.after(() => h.close());
    const before = await servedView(h.server);
    const bad = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      dependencies: ["helper"],
    });
    const fault = h.upstream.fault({ match: bad.filename, kind: "wrongBytes" });

    const plain = await h.ws.cli(["sync", MIRROR]);
    assert.equal(plain.code, 1, plain.stdout + plain.stderr);
    assert.match(plain.stdout, /failed: .*sha256 mismatch/);
    const actual = /hash to ([0-9a-f]{64})/.exec(plain.stdout)?.[1];
    assert.ok(actual, `the computed hash is named:\n${plain.stdout}`);
    assert.notEqual(actual, bad.sha256);
    for (const output of [plain.stdout, plain.stderr]) {
      assert.ok(output.includes(bad.filename), `names the file:\n${output}`);
      assert.ok(output.includes(bad.sha256), `names the expected hash:\n${output}`);
      assert.ok(output.includes(actual), `names the computed hash:\n${output}`);
    }

    const { result, report } = await syncJson(h.ws);
    assert.equal(result.code, 1);
    assert.equal(report.outcome, "failed");
    assert.ok(report.error?.includes(bad.filename), report.error);
    assert.ok(report.error?.includes(bad.sha256), report.error);
    assert.ok(report.error?.includes(actual), report.error);
    const record = runRecords(h.ws.dataDir).find((r) => r.id === report.runId);
    assert.equal(record?.outcome, "failed");
    assert.equal(record?.error, report.error, "the run record carries the same error");
    assert.equal(fault.hits, 2, "one download per run, no retry of a completed wrong file");

    assert.ok(!existsSync(blobPath(h.ws.dataDir, actual)), "the wrong bytes never entered the store");
    assert.ok(!existsSync(blobPath(h.ws.dataDir, bad.sha256)));
    assertStoreIntact(h.ws.dataDir);
    assert.deepEqual(tempFiles(h.ws.dataDir), [], "no temp file left behind");
    assert.deepEqual(await servedView(h.server), before, "the previous snapshot is served unchanged");

    const installed = await pipInstallNames(`${h.server.url}/${MIRROR}/${INDEX}`, ["demo"]);
    assert.ok(installed.includes("demo-1.0.dist-info"), installed.join(" "));
    assert.ok(installed.includes("helper-0.1.dist-info"), installed.join(" "));
  });

  test("a download cut off mid-body is resumed with Range and stored whole", async (t) => {
    const h = await startMirror();
    t.after(() => h.close());
    const big = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      payloadBytes: 512 * 1024,
    });
    h.upstream.clearLog();
    h.upstream.fault({ match: big.filename, kind: "truncate", times: 1 });

    const { result, report } = await syncJson(h.ws);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(report.outcome, "success");
    assert.equal(report.filesAdded, 1);
    const gets = h.upstream.requests.filter(
      (r) => r.method === "GET" && decodeURIComponent(r.path) === `/${INDEX}/${big.filename}`,
    );
    assert.equal(gets.length, 2, "the cut transfer and its resumption");
    assert.equal(gets[0]?.headers.range, undefined);
    const start = Number(/^bytes=(\d+)-$/.exec(String(gets[1]?.headers.range))?.[1]);
    assert.ok(
      start > 0 && start < big.size,
      `resumed from the bytes already received: ${gets[1]?.headers.range}`,
    );
    assert.equal(gets[1]?.status, 206);

    assert.ok(assertStoreIntact(h.ws.dataDir).includes(big.sha256));
    assert.deepEqual(tempFiles(h.ws.dataDir), []);
    const view = await servedView(h.server);
    assert.equal(view.files[big.filename], big.sha256, "served whole and correct");
  });

  test("a download cut off on every attempt fails the run naming the file; nothing short is stored", async (t) => {
    const h = await startMirror({ mirror: { retries: 2 } });
    t.after(() => h.close());
    const before = await servedView(h.server);
    const big = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      payloadBytes: 256 * 1024,
    });
    h.upstream.fault({ match: big.filename, kind: "truncate", afterBytes: 4096 });

    const { result, report } = await syncJson(h.ws);
    assert.equal(result.code, 1);
    assert.equal(report.outcome, "failed");
    assert.ok(report.error?.includes(big.filename) || report.error?.includes(big.url), report.error);
    assert.ok(!existsSync(blobPath(h.ws.dataDir, big.sha256)));
    assertStoreIntact(h.ws.dataDir);
    assert.deepEqual(tempFiles(h.ws.dataDir), [], "the partial download is removed");
    assert.deepEqual(await servedView(h.server), before);
  });

  test("HTTP 500 on a page is retried; a persistent 500 fails the run naming the URL", async (t) => {
    const h = await startMirror();
    t.after(() => h.close());
    const pageUrl = `${h.upstream.url}/${INDEX}/demo/`;
    const pageRequests = () =>
      h.upstream.requests.filter((r) => r.method === "GET" && r.path === `/${INDEX}/demo/`);

    const fresh = await h.upstream.publish({ index: INDEX, project: "demo", version: "2.0" });
    h.upstream.clearLog();
    h.upstream.fault({ match: `/${INDEX}/demo/`, kind: "status500", times: 2 });
    const first = await syncJson(h.ws);
    assert.equal(first.result.code, 0, first.result.stdout + first.result.stderr);
    assert.deepEqual(
      pageRequests().map((r) => r.status),
      [500, 500, 200],
    );
    assert.ok((await servedFilenames(h.server, "demo")).includes(fresh.filename));

    const before = await servedView(h.server);
    await h.upstream.publish({ index: INDEX, project: "demo", version: "3.0" });
    h.upstream.clearLog();
    h.upstream.fault({ match: `/${INDEX}/demo/`, kind: "status500" });
    const second = await syncJson(h.ws);
    assert.equal(second.result.code, 1);
    assert.equal(second.report.outcome, "failed");
    assert.ok(second.report.error?.includes(pageUrl), second.report.error);
    assert.match(second.report.error ?? "", /HTTP 500/);
    assert.equal(pageRequests().length, 4, "the first attempt and 3 retries");
    assert.deepEqual(await servedView(h.server), before);
  });

  for (const format of ["json", "html"] as const) {
    test(`a malformed ${format.toUpperCase()} project page fails the run naming the URL and what was wrong`, async (t) => {
      const h = await startMirror({ upstream: { format } });
      t.after(() => h.close());
      const before = await servedView(h.server);
      await h.upstream.publish({ index: INDEX, project: "demo", version: "2.0" });
      h.upstream.fault({ match: `/${INDEX}/demo/`, kind: "malformedPage" });

      const { result, report } = await syncJson(h.ws);
      assert.equal(result.code, 1, result.stdout);
      assert.equal(report.outcome, "failed");
      const error = report.error ?? "";
      assert.ok(error.includes(`malformed index page at ${h.upstream.url}/${INDEX}/demo/`), error);
      assert.match(error, format === "json" ? /invalid JSON/ : /ends inside an unfinished tag/);
      assert.equal(report.filesRemoved, 0);
      assert.deepEqual(await servedView(h.server), before, "demo's files are still listed and served");
    });
  }

  test("hrefs to hosts outside the allowlist or with '..' segments are skipped with warnings; nothing else is fetched", async (t) => {
    interface Logged {
      method: string;
      path: string;
    }
    const listen = async (handler: (req: IncomingMessage) => { status: number; body: Buffer | string }) => {
      const log: Logged[] = [];
      const server = createServer((req, res) => {
        log.push({ method: req.method ?? "", path: req.url ?? "" });
        const { status, body } = handler(req);
        res.writeHead(status, { "content-type": status === 200 ? "text/html" : "text/plain" });
        res.end(req.method === "HEAD" ? undefined : body);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      t.after(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      );
      return { url, log };
    };
    // Another host as far as the allowlist goes (a different port), yet on loopback: it proves
    // that no request ever leaves for a host outside the list.
    const other = await listen(() => ({ status: 200, body: "never asked" }));
    const good = buildWheel({ project: "demo", version: "1.0" });
    const fakeHash = (c: string) => c.repeat(64);
    const page = [
      "<!DOCTYPE html><html><body><h1>Links for demo</h1>",
      `<a href="/${INDEX}/${good.filename}#sha256=${good.sha256}">${good.filename}</a><br/>`,
      `<a href="http://evil.example/demo-0.9-py3-none-any.whl#sha256=${fakeHash("a")}">demo-0.9-py3-none-any.whl</a><br/>`,
      `<a href="${other.url}/demo-0.8-py3-none-any.whl#sha256=${fakeHash("b")}">demo-0.8-py3-none-any.whl</a><br/>`,
      `<a href="/${INDEX}/../../etc/demo-0.7-py3-none-any.whl#sha256=${fakeHash("c")}">demo-0.7-py3-none-any.whl</a><br/>`,
      `<a href="/${INDEX}/%2e%2e/%2E%2E/etc/demo-0.6-py3-none-any.whl#sha256=${fakeHash("d")}">demo-0.6-py3-none-any.whl</a><br/>`,
      `<a href="/whl/cu121/../../etc/passwd.whl#sha256=${fakeHash("e")}">passwd.whl</a><br/>`,
      "</body></html>",
    ].join("\n");
    const upstream = await listen((req) => {
      if (req.url === `/${INDEX}/demo/`) return { status: 200, body: page };
      if (req.url === `/${INDEX}/${good.filename}`) return { status: 200, body: good.bytes };
      return { status: 404, body: "not found" };
    });
    const ws = createWorkspace(mirrorConfig(upstream.url, { mirror: { projects: ["demo"] } }));
    t.after(() => ws.cleanup());

    const { result, report } = await syncJson(ws);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(report.outcome, "success");
    assert.equal(report.filesAdded, 1);
    const warned = (filename: string, why: RegExp) =>
      assert.ok(
        report.warnings.some((w) => w.includes(filename) && why.test(w)),
        `a warning for ${filename} matching ${why}:\n${report.warnings.join("\n")}`,
      );
    warned("demo-0.9-py3-none-any.whl", /evil\.example.*outside the allowlist/);
    warned("demo-0.8-py3-none-any.whl", new RegExp(`${reEscape(other.url)}.*outside the allowlist`));
    warned(
      "demo-0.7-py3-none-any.whl",
      /"\/simple\/\.\.\/\.\.\/etc\/demo-0\.7-py3-none-any\.whl" has "\." or "\.\." path segments/,
    );
    warned("demo-0.6-py3-none-any.whl", /%2e%2e\/%2E%2E.*path segments/);
    assert.deepEqual(
      runRecords(ws.dataDir).at(-1)?.warnings,
      report.warnings,
      "warnings are in the run record",
    );

    assert.deepEqual(
      upstream.log.map((r) => `${r.method} ${r.path}`),
      [`GET /${INDEX}/demo/`, `GET /${INDEX}/${good.filename}`],
      "only the page and the good file were requested",
    );
    assert.deepEqual(other.log, [], "the host outside the allowlist got no request");
    assert.equal(
      report.upstreamRequests,
      upstream.log.length,
      "every request freshmirror sent reached the upstream",
    );

    const server = await ws.serve();
    const res = await fetch(`${server.url}/${MIRROR}/${INDEX}/demo/`, { headers: { accept: "text/html" } });
    const html = await res.text();
    assert.ok(html.includes(good.filename));
    assert.doesNotMatch(html, /demo-0\.[6-9]|passwd/);
    const file = await fetch(`${server.url}/${MIRROR}/${INDEX}/${good.filename}`);
    assert.equal(sha256Hex(Buffer.from(await file.arrayBuffer())), good.sha256);
  });
});

describe("disk full during a sync", () => {
  test("on a 2 MiB tmpfs: the run fails with a clear store-write error, serve keeps the old snapshot, no partial blob", async (t) => {
    const root = mkdtempSync(join(tmpdir(), "fm-full-"));
    const dataDir = join(root, "data");
    mkdirSync(dataDir);
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dataDir], {
      encoding: "utf8",
    });
    if (mount.status !== 0) {
      rmSync(root, { recursive: true, force: true });
      t.skip(
        `cannot mount a tmpfs here (${(mount.stderr || String(mount.error)).trim()}); the RLIMIT_FSIZE test covers the write error`,
      );
      return;
    }
    let h: MirrorHarness | undefined;
    t.after(async () => {
      await h?.close(); // serve lets go of data_dir before it is unmounted
      const umount = spawnSync("umount", [dataDir], { encoding: "utf8" });
      rmSync(root, { recursive: true, force: true });
      assert.equal(umount.status, 0, `umount ${dataDir}: ${umount.stderr}`);
    });
    h = await startMirror({ dataDir });
    const before = await servedView(h.server);
    const freeBefore = statfsSync(dataDir).bavail * statfsSync(dataDir).bsize;

    const huge = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      payloadBytes: 3 * 1024 * 1024,
    });
    const { result, report } = await syncJson(h.ws);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(report.outcome, "failed");
    assert.match(report.error ?? "", /could not write .*no space left on device/i);
    assert.match(report.error ?? "", /check free space/);
    assert.equal(
      runRecords(dataDir).at(-1)?.outcome,
      "failed",
      "the failure is recorded despite the full disk",
    );

    assert.ok(!existsSync(blobPath(dataDir, huge.sha256)));
    assertStoreIntact(dataDir);
    assert.deepEqual(tempFiles(dataDir), [], "the partial download is removed");
    const freeAfter = statfsSync(dataDir).bavail * statfsSync(dataDir).bsize;
    assert.ok(freeAfter > freeBefore - 256 * 1024, `the space is given back (${freeBefore} -> ${freeAfter})`);
    assert.deepEqual(await servedView(h.server), before, "serve keeps serving the old snapshot");

    // Once the file is gone upstream, the next run succeeds: nothing was left wedged (lock, state).
    h.upstream.unpublish(INDEX, huge.filename);
    const next = await syncJson(h.ws);
    assert.equal(next.result.code, 0, next.result.stdout + next.result.stderr);
  });

  test("an injected write error (RLIMIT_FSIZE): the run fails with a store-write error and keeps nothing", async (t) => {
    const h = await startMirror();
    t.after(() => h.close());
    const before = await servedView(h.server);
    const huge = await h.upstream.publish({
      index: INDEX,
      project: "demo",
      version: "2.0",
      payloadBytes: 2 * 1024 * 1024,
    });
    // `ulimit -f 512` caps every file the sync writes at 256 or 512 KiB (the unit is the shell's):
    // plenty for state.sqlite and logs, too little for the wheel. Node ignores SIGXFSZ, so the
    // write fails with EFBIG.
    const child = spawn(
      "sh",
      [
        "-c",
        'ulimit -f 512 && exec "$0" "$@"',
        process.execPath,
        ...cliArgv(),
        "sync",
        MIRROR,
        "--json",
        "--config",
        h.ws.configPath,
      ],
      { cwd: h.ws.dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    const result = await collect(child);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const report = JSON.parse(result.stdout) as SyncReport;
    assert.equal(report.outcome, "failed");
    assert.match(report.error ?? "", /could not write .*EFBIG/);
    assert.equal(runRecords(h.ws.dataDir).at(-1)?.outcome, "failed");
    assert.ok(!existsSync(blobPath(h.ws.dataDir, huge.sha256)));
    assertStoreIntact(h.ws.dataDir);
    assert.deepEqual(tempFiles(h.ws.dataDir), []);
    assert.deepEqual(await servedView(h.server), before);

    const next = await syncJson(h.ws);
    assert.equal(next.result.code, 0, next.result.stdout + next.result.stderr);
    assert.ok((await servedFilenames(h.server, "demo")).includes(huge.filename));
  });
});

describe("sync --dry-run", () => {
  test("lists the files it would fetch with their count and total size, sized by HEAD for an HTML index, and fetches nothing", async (t) => {
    const h = await startMirror({ upstream: { format: "html" } });
    t.after(() => h.close());
    const before = await servedView(h.server);
    const blobsBefore = assertStoreIntact(h.ws.dataDir);
    const runsBefore = runRecords(h.ws.dataDir).length;
    const fresh = await h.upstream.publishAll([
      { index: INDEX, project: "demo", version: "2.0", payloadBytes: 20_000 },
      { index: INDEX, project: "helper", version: "0.2" },
    ]);
    const total = fresh.reduce((sum, f) => sum + f.size, 0);
    h.upstream.clearLog();

    const plain = await h.ws.cli(["sync", MIRROR, "--dry-run"]);
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    for (const file of fresh) {
      assert.match(
        plain.stdout,
        new RegExp(`^${reEscape(formatBytes(file.size))}\\t${INDEX}\\t${reEscape(file.filename)}$`, "m"),
      );
    }
    assert.match(plain.stdout, new RegExp(`dry run: 2 files to fetch, ${reEscape(formatBytes(total))};`));
    const nonPages = h.upstream.requests.filter((r) => !r.path.endsWith("/"));
    assert.deepEqual(
      nonPages.map((r) => `${r.method} ${decodeURIComponent(r.path)}`).sort(),
      fresh.map((f) => `HEAD /${INDEX}/${f.filename}`).sort(),
      "sizes came from HEAD; no file was downloaded",
    );

    const { result, report } = await syncJson(h.ws, ["--dry-run"]);
    assert.equal(result.code, 0);
    assert.equal(report.outcome, "dry-run");
    assert.deepEqual(
      report.toFetch.map((f) => [f.filename, f.size]).sort(),
      fresh.map((f) => [f.filename, f.size]).sort(),
    );
    assert.equal(report.filesAdded, 2);
    assert.equal(report.bytesAdded, total);

    assert.equal(runRecords(h.ws.dataDir).length, runsBefore, "a dry run records no run");
    assert.deepEqual(assertStoreIntact(h.ws.dataDir), blobsBefore, "and stores nothing");
    assert.deepEqual(await servedView(h.server), before, "and publishes nothing");
  });
});

describe("gc", () => {
  test("removes blobs no snapshot references once files leave; --dry-run only reports; published files stay served", async (t) => {
    const h = await startMirror({
      top: { gc_grace: "0s" },
      extra: [{ index: INDEX, project: "demo", version: "0.9" }],
    });
    t.after(() => h.close());
    const old = h.published.find((p) => p.filename.startsWith("demo-0.9-"));
    assert.ok(old);
    const oldBlobs = [old.sha256, old.metadataSha256];
    const gcJson = async (args: string[]) => {
      const result = await h.ws.cli(["gc", "--json", ...args]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      return JSON.parse(result.stdout) as { dryRun: boolean; blobs: number; bytes: number; failed: number };
    };
    assert.deepEqual(
      await gcJson([]),
      { dryRun: false, blobs: 0, bytes: 0, failed: 0 },
      "everything is referenced",
    );

    assert.ok(h.upstream.unpublish(INDEX, old.filename));
    const removed = await syncJson(h.ws);
    assert.equal(removed.report.filesRemoved, 1);
    // The generation before is kept (state-store publish keeps 2 per index) and still lists the
    // file, so one more sync is needed before no snapshot references it.
    const again = await syncJson(h.ws);
    assert.equal(again.result.code, 0);
    const after = await servedView(h.server);
    assert.ok(!(old.filename in after.files));

    const expectedBytes = old.size + old.metadata.length;
    const dry = await gcJson(["--dry-run"]);
    assert.deepEqual(dry, { dryRun: true, blobs: 2, bytes: expectedBytes, failed: 0 });
    for (const sha of oldBlobs) assert.ok(existsSync(blobPath(h.ws.dataDir, sha)), "dry run deletes nothing");
    const dryText = await h.ws.cli(["gc", "--dry-run"]);
    assert.match(
      dryText.stdout,
      new RegExp(`2 unreferenced blob\\(s\\).*${reEscape(formatBytes(expectedBytes))} would be freed`),
    );

    const text = await h.ws.cli(["gc"]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`2 unreferenced blob\\(s\\).*${reEscape(formatBytes(expectedBytes))} freed`),
    );
    for (const sha of oldBlobs)
      assert.ok(!existsSync(blobPath(h.ws.dataDir, sha)), "the unreferenced blob is gone");
    assert.deepEqual(
      await gcJson([]),
      { dryRun: false, blobs: 0, bytes: 0, failed: 0 },
      "nothing left to collect",
    );

    assert.deepEqual(await servedView(h.server), after, "every published file is still served");
    const verify = await h.ws.cli(["verify", MIRROR]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
