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
const concurrency = process.env.FRESHMIRROR_TEST_CONCURRENCY ?? "2";
const child = spawn(
  process.execPath,
  ["--enable-source-maps", "--test", `--test-concurrency=${concurrency}`, ...files],
  { stdio: "inherit", cwd: root },
);
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
