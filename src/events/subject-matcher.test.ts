import assert from "node:assert/strict";
import { test } from "node:test";
import { literalMatcher } from "./subject-matcher.js";

test("the literal matcher compares names and versions exactly", () => {
  assert.equal(literalMatcher.normalizeName("Torch_Audio"), "Torch_Audio");
  assert.equal(literalMatcher.versionSpecProblem("2.6.0"), undefined);
  assert.match(literalMatcher.versionSpecProblem("  ") ?? "", /empty version filter/);
  assert.equal(literalMatcher.versionMatches("2.6.0", "2.6.0"), true);
  assert.equal(literalMatcher.versionMatches(" 2.6.0 ", "2.6.0"), true, "spaces around the filter aside");
  assert.equal(literalMatcher.versionMatches("2.6.0", "2.6.0+cu121"), false);
  assert.equal(literalMatcher.versionMatches(">=2.5", "2.6.0"), false);
});
