// A full disk in proxy mode, on a real 2 MiB tmpfs: what is cached keeps being served, and a miss
// answers a coded 507 FM_ERR_STORE_FULL with a hint, not a 500 carrying SQLITE_FULL.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { startServer } from "../../src/http/server.js";
import { startPypiUpstream } from "../fixtures/pypi-upstream.js";

/** Writes a file until the file system refuses another byte. */
function fillDisk(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk.subarray(0, 4096 * 1)); // small writes so the last block is used
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    closeSync(fd);
  }
}

test("proxy on a full disk: cached pages and files are served, a miss is 507 FM_ERR_STORE_FULL", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "fm-proxyfull-"));
  const dataDir = join(root, "data");
  mkdirSync(dataDir);
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dataDir], { encoding: "utf8" });
  if (mount.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here (${(mount.stderr || String(mount.error)).trim()})`);
    return;
  }
  const upstream = await startPypiUpstream({ indexes: ["simple"] });
  const cached = await upstream.publish({
    index: "simple",
    project: "demo",
    version: "1.0",
    payloadBytes: 20_000,
  });
  const missed = await upstream.publish({
    index: "simple",
    project: "demo",
    version: "1.1",
    payloadBytes: 20_000,
  });
  const config = parseConfigText(
    `data_dir: ${dataDir}\nmirrors:\n  pypi: { type: pypi, upstream: "${upstream.url}", indexes: [simple], mode: proxy }\n`,
    "test",
  );
  const app = await App.open(config);
  const server = await startServer(app, "127.0.0.1", 0);
  t.after(async () => {
    await server.close();
    await app.close();
    await upstream.close();
    const umount = spawnSync("umount", [dataDir], { encoding: "utf8" });
    rmSync(root, { recursive: true, force: true });
    assert.equal(umount.status, 0, umount.stderr);
  });
  const page = `${server.url}/pypi/simple/demo/`;
  assert.equal((await fetch(page)).status, 200);
  const first = await fetch(`${server.url}/pypi${cached.path}`);
  assert.equal(first.status, 200);
  await first.arrayBuffer();

  fillDisk(join(dataDir, "filler"));

  const again = await fetch(`${server.url}/pypi${cached.path}`);
  assert.equal(again.status, 200, "a cached file is still served");
  const bytes = Buffer.from(await again.arrayBuffer());
  assert.equal(createHash("sha256").update(bytes).digest("hex"), cached.sha256);
  const listed = await fetch(page);
  assert.equal(listed.status, 200, "the cached page is still served");
  assert.match(await listed.text(), new RegExp(missed.filename.replace(/[.+]/g, "\\$&")));

  const miss = await fetch(`${server.url}/pypi${missed.path}`, {
    headers: { accept: "application/json" },
  });
  assert.equal(miss.status, 507);
  const body = (await miss.json()) as { error: { code: string; message: string; hint: string } };
  assert.equal(body.error.code, "FM_ERR_STORE_FULL");
  assert.match(body.error.hint, /file system is full/);
  assert.doesNotMatch(JSON.stringify(body), /SQLITE_FULL/);
});
