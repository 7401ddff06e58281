// The docs stand alone: every relative link in README.md and docs/ names a file inside the
// repository that exists, and the example config in docs/design.md is one freshmirror accepts.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { parseConfigText } from "../../src/app/load-config.js";
import { repoRoot } from "../helpers/repo-root.js";

function markdownFiles(): string[] {
  const docs = join(repoRoot(), "docs");
  return [
    join(repoRoot(), "README.md"),
    ...readdirSync(docs)
      .filter((f) => f.endsWith(".md"))
      .map((f) => join(docs, f)),
  ];
}

test("README.md and docs/ link only files inside the repository, and those exist", () => {
  const root = repoRoot();
  let checked = 0;
  for (const file of markdownFiles()) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (match[1] as string).split("#")[0] as string;
      if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // an anchor or a URL
      const path = resolve(dirname(file), target);
      const where = `${relative(root, file)} links ${match[1]}`;
      assert.ok(!relative(root, path).startsWith(".."), `${where}: outside the repository`);
      assert.ok(existsSync(path), `${where}: no such file`);
      checked++;
    }
  }
  assert.ok(checked >= 5, `only ${checked} relative links found`);
});

test("docs/design.md's example config is valid", () => {
  const design = readFileSync(join(repoRoot(), "docs", "design.md"), "utf8");
  const block = /## Config shape[\s\S]*?```yaml\n([\s\S]*?)```/.exec(design)?.[1];
  assert.ok(block, "docs/design.md has the example config");
  const config = parseConfigText(block, "docs/design.md", {});
  assert.deepEqual(
    config.mirrors.map((m) => [m.name, m.mode]),
    [
      ["pytorch", "mirror"],
      ["pypi", "proxy"],
    ],
  );
  assert.equal(config.hooks.length, 1);
});
