import assert from "node:assert/strict";
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
