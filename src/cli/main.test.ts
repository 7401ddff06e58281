import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { CommandIo } from "./command-io.js";
import { main } from "./main.js";

function workspace(configText: string): {
  io: CommandIo;
  out: () => string;
  err: () => string;
  config: string;
} {
  const dir = mkdtempSync(join(tmpdir(), "fm-main-"));
  const config = join(dir, "freshmirror.yaml");
  writeFileSync(config, configText.replace("DATA", join(dir, "data")));
  let stdout = "";
  let stderr = "";
  return {
    io: {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
      cwd: dir,
    },
    out: () => stdout,
    err: () => stderr,
    config,
  };
}

test("`sync nosuch` is a usage error (exit 2) that lists the configured mirrors", async () => {
  const ws = workspace(
    "data_dir: DATA\nmirrors:\n  alpha: { type: pypi, upstream: http://127.0.0.1:9, mode: proxy }\n  beta: { type: pypi, upstream: http://127.0.0.1:9, mode: proxy }\n",
  );
  const code = await main(["sync", "nosuch", "--config", ws.config], ws.io);
  assert.equal(code, 2, ws.err());
  assert.match(ws.err(), /no mirror named "nosuch" \(configured: alpha, beta\) \[FM_ERR_MIRROR_UNKNOWN\]/);
});

test("a YAML alias bomb in the config exits 2 with a coded config error", async () => {
  const rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [name, prev] of [
    ["b", "a"],
    ["c", "b"],
    ["d", "c"],
    ["e", "d"],
  ]) {
    rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
  }
  const ws = workspace(`${rows.join("\n")}\n`);
  const code = await main(["status", "--config", ws.config], ws.io);
  assert.equal(code, 2, ws.err());
  assert.match(ws.err(), /Excessive alias count/);
  assert.match(ws.err(), /\[FM_ERR_CONFIG_INVALID\]/);
});

test("data_dir: / is refused before anything is created there", async () => {
  const ws = workspace("data_dir: /\n");
  const code = await main(["status", "--config", ws.config], ws.io);
  assert.equal(code, 2, ws.err());
  assert.match(ws.err(), /data_dir: "\/" is a system directory/);
});

test("a data_dir that is a file is a coded error with a hint, exit 2", async () => {
  const ws = workspace("data_dir: DATA\n");
  writeFileSync(join(ws.io.cwd, "data"), "not a folder");
  const code = await main(["status", "--config", ws.config], ws.io);
  assert.equal(code, 2, ws.err());
  assert.match(ws.err(), /data_dir .*data is not usable: EEXIST/);
  assert.match(ws.err(), /is a file, not a folder/);
  assert.match(ws.err(), /\[FM_ERR_STORE_NOT_WRITABLE\]/);
});

test("a data_dir on a read-only mount is a coded error naming who runs freshmirror, exit 2", async (t) => {
  const ws = workspace(
    "data_dir: DATA\nmirrors:\n  m: { type: pypi, upstream: http://127.0.0.1:9, mode: proxy }\n",
  );
  const data = join(ws.io.cwd, "data");
  assert.equal(await main(["status", "--config", ws.config], ws.io), 0, ws.err());
  // Root writes through chmod 0555, so a read-only bind mount stands in for "not writable".
  const bind = spawnSync("mount", ["--bind", data, data], { encoding: "utf8" });
  const ro =
    bind.status === 0 ? spawnSync("mount", ["-o", "remount,ro,bind", data], { encoding: "utf8" }) : bind;
  if (ro.status !== 0) {
    if (bind.status === 0) spawnSync("umount", [data]);
    t.skip("cannot make a read-only bind mount here");
    return;
  }
  t.after(() => {
    const umount = spawnSync("umount", [data], { encoding: "utf8" });
    assert.equal(umount.status, 0, umount.stderr);
  });
  const code = await main(["gc", "--config", ws.config], ws.io);
  assert.equal(code, 2, ws.err());
  assert.match(ws.err(), /\[FM_ERR_STORE_NOT_WRITABLE\]/);
  assert.match(ws.err(), /read-only file system|EROFS/);
});
