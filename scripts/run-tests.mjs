#!/usr/bin/env node
// Runs every compiled test file under dist/ with Node's test runner.
// Node 20 has no glob support in `node --test`, so the file list is built here.
// Extra arguments filter files by substring: `node scripts/run-tests.mjs planner sync`.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = collect(dist, [])
  .filter((f) => filters.length === 0 || filters.some((s) => relative(dist, f).includes(s)))
  .sort();
if (files.length === 0) {
  console.error("run-tests: no compiled test files found under dist/ (run `npx tsc -p .` first)");
  process.exit(1);
}
// Tests that start container engines, daemons or image builds (buildah, dockerd, containerd,
// podman) run after the rest, one file at a time: they load both CPUs for minutes, and two of
// them side by side have disturbed each other's mounts.
const EXCLUSIVE = [
  "test/workstation/",
  "test/deploy/container-image",
  "test/oci/oci-clients",
  "test/oci/client-launchers",
];
const exclusive = (f) => EXCLUSIVE.some((s) => relative(dist, f).startsWith(s));
const concurrency = process.env.FRESHMIRROR_TEST_CONCURRENCY ?? "2";

function run(batch, jobs) {
  return new Promise((resolve) => {
    if (batch.length === 0) return resolve(0);
    const child = spawn(
      process.execPath,
      ["--enable-source-maps", "--test", `--test-concurrency=${jobs}`, ...batch],
      { stdio: "inherit", cwd: root },
    );
    child.on("exit", (code, signal) => resolve(signal ? 1 : (code ?? 1)));
  });
}

const shared = await run(
  files.filter((f) => !exclusive(f)),
  concurrency,
);
const alone = await run(files.filter(exclusive), "1");
process.exit(shared !== 0 ? shared : alone);
