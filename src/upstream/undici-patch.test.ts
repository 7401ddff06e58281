// Guard for the carried undici fix (patches/undici+7.30.2.patch, nodejs/undici#5360, upstream
// commits d03fb2441 / PR #5389 and 7d78f7dd9 / PR #5474): without it an upstream that closes its
// connection while a response body waits unread kills the whole process with an uncatchable
// `AssertionError: assert(!this.paused)`. A lock-file bump or an install that skipped
// `postinstall` (patch-package) would silently bring the crash back; this test fails instead.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";

const require = createRequire(import.meta.url);
const undiciRoot = dirname(require.resolve("undici/package.json"));

/** The source of `Parser.finish()` in the installed undici's HTTP/1 client. */
function parserFinishSource(): string {
  const source = readFileSync(join(undiciRoot, "lib", "dispatcher", "client-h1.js"), "utf8");
  const start = source.indexOf("\n  finish () {");
  assert.notEqual(start, -1, "Parser.finish() not found in undici's client-h1.js");
  const end = source.indexOf("\n  }\n", start);
  return source.slice(start, end);
}

test("the installed undici completes a paused parser on socket end instead of asserting", () => {
  const version = (JSON.parse(readFileSync(join(undiciRoot, "package.json"), "utf8")) as { version: string })
    .version;
  const finish = parserFinishSource();
  assert.doesNotMatch(
    finish,
    /assert\(!this\.paused\)/,
    `undici ${version} still asserts !paused in Parser.finish(): patches/undici+7.30.2.patch was not applied (run \`npx patch-package\`), or undici changed version`,
  );
  // PR #5474: resume the paused parser and drain the socket before llhttp_finish().
  assert.match(
    finish,
    /if \(this\.paused\) \{[\s\S]*llhttp\.llhttp_resume\(this\.ptr\)[\s\S]*this\.socket\.read\(\)/,
  );
  assert.ok(
    finish.indexOf("llhttp.llhttp_resume(") < finish.indexOf("llhttp.llhttp_finish("),
    "the parser must be resumed before llhttp_finish()",
  );
});

test("undici is pinned to exactly the version the carried patch was made for", () => {
  const projectRoot = dirname(dirname(undiciRoot));
  const pkg = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    scripts: Record<string, string>;
  };
  const installed = (
    JSON.parse(readFileSync(join(undiciRoot, "package.json"), "utf8")) as { version: string }
  ).version;
  assert.equal(
    pkg.dependencies.undici,
    "7.30.2",
    "a range would let npm pick a version the patch does not fit",
  );
  assert.equal(installed, "7.30.2");
  assert.ok(existsSync(join(projectRoot, "patches", `undici+${installed}.patch`)));
  assert.match(pkg.scripts.postinstall ?? "", /patch-package/, "`npm ci` must apply the patch");
});
