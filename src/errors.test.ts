import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../test/helpers/repo-root.js";
import { DigestMismatchError, FreshmirrorError, UpstreamStatusError } from "./errors.js";

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

test("docs/errors.md lists exactly the error codes used in src/", () => {
  const used = new Set<string>();
  for (const file of sourceFiles(join(repoRoot(), "src"))) {
    for (const match of readFileSync(file, "utf8").matchAll(/"(FM_ERR_[A-Z_]+)"/g))
      used.add(match[1] as string);
  }
  const documented = new Set(
    [...readFileSync(join(repoRoot(), "docs", "errors.md"), "utf8").matchAll(/^\| `(FM_ERR_[A-Z_]+)`/gm)].map(
      (m) => m[1] as string,
    ),
  );
  assert.ok(used.size > 10, "expected to find the error codes in src/");
  assert.deepEqual([...used].filter((c) => !documented.has(c)).sort(), [], "codes used but not documented");
  assert.deepEqual([...documented].filter((c) => !used.has(c)).sort(), [], "codes documented but not used");
});

test("errors carry a stable code, an HTTP status and a message naming what was wrong", () => {
  const mismatch = new DigestMismatchError(
    "torch-2.5.1-cp311-cp311-linux_x86_64.whl",
    "a".repeat(64),
    "b".repeat(64),
  );
  assert.ok(mismatch instanceof FreshmirrorError);
  assert.equal(mismatch.code, "FM_ERR_DIGEST_MISMATCH");
  assert.equal(mismatch.status, 502);
  assert.match(mismatch.message, /torch-2\.5\.1-cp311.*a{64}.*b{64}/);
  const status = new UpstreamStatusError("http://127.0.0.1:1/whl/cu121/torch/", 500);
  assert.match(status.message, /HTTP 500 .*whl\/cu121\/torch/);
  assert.equal(status.name, "UpstreamStatusError");
});
