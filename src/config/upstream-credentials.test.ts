import assert from "node:assert/strict";
import { test } from "node:test";
import { inspect } from "node:util";
import { parseConfigText } from "../app/load-config.js";
import { ConfigError } from "../errors.js";

const mirror = (fields: string) => `mirrors:\n  m: { type: pypi, ${fields} }\n`;

test("user:password@ in upstream is split off: the resolved upstream has none, JSON and inspect print ***", () => {
  const config = parseConfigText(mirror("upstream: https://me:p%40ss@pkgs.example.org/pypi/"), "test", {});
  const m = config.mirrors[0];
  assert.equal(m?.upstream, "https://pkgs.example.org/pypi");
  assert.equal(m?.upstreamAuth?.basicHeader(), `Basic ${Buffer.from("me:p@ss").toString("base64")}`);
  assert.equal(m?.upstreamAuth?.origin, "https://pkgs.example.org");
  for (const shown of [JSON.stringify(config), inspect(config, { depth: 10 })]) {
    assert.ok(!shown.includes("p@ss") && !shown.includes("p%40ss"), shown);
    assert.match(shown, /\*\*\*/);
  }
});

test("username_env/password_env are read at load; a missing variable is named without any value", () => {
  const text = mirror("upstream: https://pkgs.example.org, username_env: PKG_USER, password_env: PKG_PASS");
  const config = parseConfigText(text, "test", { PKG_USER: "pkg-reader", PKG_PASS: "hunter2" });
  assert.equal(
    config.mirrors[0]?.upstreamAuth?.basicHeader(),
    `Basic ${Buffer.from("pkg-reader:hunter2").toString("base64")}`,
  );
  assert.throws(
    () => parseConfigText(text, "test", { PKG_USER: "pkg-reader" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.includes("mirrors.m.password_env: environment variable PKG_PASS is not set") &&
      !error.message.includes("pkg-reader"),
  );
  assert.throws(
    () =>
      parseConfigText(
        mirror("upstream: https://a:b@pkgs.example.org, username_env: PKG_USER, password_env: PKG_PASS"),
        "test",
        { PKG_USER: "pkg-reader", PKG_PASS: "hunter2" },
      ),
    (error: unknown) =>
      error instanceof ConfigError &&
      /use one of them/.test(error.message) &&
      !error.message.includes("a:b@"),
  );
});
