// The largest real wheel store this machine's pip configuration names (`pip config list`:
// `global.extra-index-url` file:// indexes), served by `python3 -m http.server`, which answers
// HTTP/1.0 and closes every connection: the upstream that used to kill `freshmirror sync` with
// undici's `AssertionError: assert(!this.paused)` (nodejs/undici#5360; see
// patches/undici+7.30.2.patch). Every project page and every file of the store is synced by the
// real CLI. Skipped, saying why, where no such store exists.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createWorkspace } from "../helpers/freshmirror-cli.js";
import { configuredFileIndexes } from "../helpers/pip-wheel-stores.js";

/** The `file://…/simple` indexes pip on this machine is configured with, largest first. */
async function configuredIndexesBySize(): Promise<{ root: string; projects: string[] }[]> {
  return (await configuredFileIndexes())
    .map((root) => ({
      root,
      projects: readdirSync(root, { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(join(root, e.name, "index.html")))
        .map((e) => e.name),
    }))
    .sort((a, b) => b.projects.length - a.projects.length);
}

/** `python3 -m http.server` on 127.0.0.1, a free port, serving `dir`. */
async function pythonHttpServer(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    "python3",
    ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Serving HTTP on \S+ port (\d+)/.exec(output);
      if (match) resolve(`http://127.0.0.1:${match[1]}`);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      // The access log: kept only until the port is known.
      if (output.length < 10_000) output += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`http.server exited with ${code}:\n${output}`)));
  });
  return { url, child };
}

test("a whole real wheel store synced from python's http.server (Connection: close): no crash, every file", {
  timeout: 40 * 60_000,
}, async (t) => {
  const [largest] = await configuredIndexesBySize();
  if (largest === undefined || largest.projects.length === 0) {
    t.skip("no file:// PEP 503 index in this machine's pip configuration (pip config list)");
    return;
  }
  // Every distribution the store's pages link, as the sync must publish it.
  const linked = new Set<string>();
  for (const project of largest.projects) {
    const html = readFileSync(join(largest.root, project, "index.html"), "utf8");
    for (const m of html.matchAll(/<a [^>]*href="([^"#]+)[^"]*"/g))
      linked.add((m[1] ?? "").split("/").at(-1) ?? "");
  }
  const upstream = await pythonHttpServer(join(largest.root, ".."));
  const ws = createWorkspace({
    mirrors: { store: { type: "pypi", upstream: upstream.url, indexes: ["simple"], schedule: "0 2 * * *" } },
  });
  t.after(async () => {
    upstream.child.kill();
    await ws.cleanup();
  });
  const started = Date.now();
  const sync = await ws.cli(["sync", "store", "--json"], { timeoutMs: 35 * 60_000 });
  const seconds = Math.round((Date.now() - started) / 1000);
  assert.equal(sync.signal, null, `sync was killed (${sync.signal}):\n${sync.stderr.slice(-4000)}`);
  assert.doesNotMatch(sync.stderr, /assert\(!this\.paused\)/);
  assert.equal(sync.code, 0, `sync failed:\n${sync.stdout.slice(-4000)}\n${sync.stderr.slice(-4000)}`);
  const report = JSON.parse(sync.stdout) as { outcome: string; filesTotal: number; bytesTotal: number };
  assert.equal(report.outcome, "success");
  assert.equal(report.filesTotal, linked.size, "every linked file of every project is published");
  t.diagnostic(
    `${largest.root}: ${largest.projects.length} projects, ${report.filesTotal} files, ${(report.bytesTotal / 2 ** 30).toFixed(2)} GiB synced in ${seconds} s`,
  );
});
