import assert from "node:assert/strict";
import { test } from "node:test";
import { ANY_INDEX, isConfiguredIndex, matchesIndex } from "./index-pattern.js";

test("a * segment matches one index-like segment; ** any index path up to 4 deep", () => {
  const torch = ["whl", "whl/*", "whl/nightly/*"];
  assert.ok(matchesIndex(torch, ["whl"]));
  assert.ok(matchesIndex(torch, ["whl", "cu132"]));
  assert.ok(matchesIndex(torch, ["whl", "nightly", "rocm7.0"]));
  assert.ok(!matchesIndex(torch, ["whl", "stable", "cu121"]));
  assert.ok(!matchesIndex(torch, ["simple"]));
  assert.ok(!matchesIndex(torch, []));
  for (const hostile of ["a?x=1", "%2e%2e", "a#frag", "..", ".hidden", "-x", "a b"]) {
    assert.ok(!matchesIndex(torch, ["whl", hostile]), hostile);
    assert.ok(!matchesIndex([ANY_INDEX], ["whl", hostile]), hostile);
  }
  assert.ok(matchesIndex([ANY_INDEX], ["whl", "nightly", "cu128"]));
  assert.ok(!matchesIndex([ANY_INDEX], ["a", "b", "c", "d", "e"]));
  assert.ok(isConfiguredIndex(torch, ["whl"]));
  assert.ok(!isConfiguredIndex(torch, ["whl", "cu132"]));
});
