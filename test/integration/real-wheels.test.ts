// The machine's real wheel stores as an upstream: the `file://` extra indexes that this machine's
// pip configuration names (real numpy wheels and more) are served by a static file server, synced
// by freshmirror, and installed from it by real pip, then imported. Skipped, saying why, where the
// stores are absent.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { startStaticFileServer } from "../fixtures/static-file-server.js";
import { createWorkspace } from "../helpers/freshmirror-cli.js";
import { runPip } from "../helpers/pip.js";
import { configuredFileIndexes } from "../helpers/pip-wheel-stores.js";

const run = promisify(execFile);

test("real numpy wheels from the machine's wheel store: synced, verified, pip-installed and imported", async (t) => {
  const indexes = await configuredFileIndexes();
  const simple = indexes.find((root) => existsSync(join(root, "numpy", "index.html")));
  if (!simple) {
    t.skip("no file:// index with numpy in this machine's pip configuration (pip config list)");
    return;
  }
  const upstream = await startStaticFileServer(dirname(simple));
  const ws = createWorkspace({
    mirrors: {
      local: {
        type: "pypi",
        upstream: upstream.url,
        indexes: ["simple"],
        projects: ["numpy"],
        python: ["cp311"],
        platforms: ["manylinux*_x86_64"],
        keep_latest: 1,
      },
    },
  });
  const target = mkdtempSync(join(tmpdir(), "fm-real-"));
  try {
    const sync = await ws.cli(["sync", "local", "--json"]);
    assert.equal(sync.code, 0, sync.stdout + sync.stderr);
    const report = JSON.parse(sync.stdout) as { filesAdded: number; bytesAdded: number; warnings: string[] };
    assert.equal(report.filesAdded, 1, "keep_latest 1: the newest numpy release for cp311 x86_64");
    assert.ok(report.bytesAdded > 1_000_000, `a real wheel: ${report.bytesAdded} bytes`);
    const server = await ws.serve();
    const install = await runPip(
      [
        "install",
        "--index-url",
        `${server.url}/local/simple`,
        "--target",
        target,
        "--only-binary=:all:",
        "numpy",
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(install.code, 0, install.stderr);
    const imported = await run(
      "python3",
      ["-c", "import numpy; print(numpy.__version__, numpy.arange(4).sum())"],
      {
        env: { ...process.env, PYTHONPATH: target, PYTHONNOUSERSITE: "1" },
        cwd: target,
      },
    );
    assert.match(imported.stdout, /^\d+\.\d+\.\d+ 6\n$/);
    // pip read the core metadata freshmirror extracted from the wheel (the store publishes none).
    const metadataRequests = upstream.requests.filter((r) => r.path.endsWith(".metadata"));
    assert.deepEqual(
      metadataRequests.filter((r) => r.status === 200),
      [],
    );
    const verify = await ws.cli(["verify", "local"]);
    assert.equal(verify.code, 0, verify.stdout);
  } finally {
    rmSync(target, { recursive: true, force: true });
    await ws.cleanup();
    await upstream.close();
  }
});
