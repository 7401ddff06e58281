// `npm start` starts the code `npm ci` compiled and refuses stale or missing builds
// (scripts/check-build.mjs) instead of running tsc on every start.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/repo-root.js";

const CHECK = join(repoRoot(), "scripts", "check-build.mjs");

function check(root: string): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [CHECK, root], { encoding: "utf8" });
  return { status: result.status, stderr: result.stderr };
}

function write(root: string, path: string, text: string, mtimeSeconds: number): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
  utimesSync(full, mtimeSeconds, mtimeSeconds);
}

test("npm start runs the built code through the build check, and tsc no longer runs before it", () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  assert.equal(pkg.scripts.prestart, undefined);
  assert.equal(
    pkg.scripts.start,
    "node scripts/check-build.mjs && node --enable-source-maps dist/src/cli/main.js serve",
  );
  assert.match(pkg.scripts.prepare ?? "", /^tsc -p tsconfig\.json/, "npm ci must still build once");
});

test("the build check passes on this repository as compiled for the tests", () => {
  const result = check(repoRoot());
  assert.equal(result.status, 0, result.stderr);
});

test("the build check refuses a missing dist/, a source changed after the build and a source never compiled", () => {
  const root = mkdtempSync(join(tmpdir(), "fm-start-check-"));
  try {
    const then = 1_700_000_000;
    write(root, "src/cli/main.ts", "export {};\n", then);
    write(root, "src/store/blob-store.ts", "export {};\n", then);

    let result = check(root);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /cannot start: dist\/ has no compiled code \(dist\/src\/cli\/main\.js is missing\)/,
    );
    assert.match(result.stderr, /npm run build/);

    write(root, "dist/src/cli/main.js", "\n", then + 10);
    write(root, "dist/src/store/blob-store.js", "\n", then + 10);
    result = check(root);
    assert.equal(result.status, 0, result.stderr);

    write(root, "src/store/blob-store.ts", "export const changed = 1;\n", then + 20);
    result = check(root);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /src\/store\/blob-store\.ts changed after dist\/ was built/);

    write(root, "dist/src/store/blob-store.js", "\n", then + 30);
    write(root, "src/http/new-page.ts", "export {};\n", then + 5);
    result = check(root);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /src\/http\/new-page\.ts has not been compiled \(no dist\/src\/http\/new-page\.js\)/,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
