import assert from "node:assert/strict";
import { test } from "node:test";
import { pypiSubjectMatcher as matcher } from "./subject-matcher.js";

test("names compare PEP 503-normalized", () => {
  assert.equal(matcher.normalizeName("Torch_Audio"), "torch-audio");
  assert.equal(matcher.normalizeName("zope.interface"), "zope-interface");
  assert.equal(matcher.normalizeName("A-_.b"), "a-b");
  assert.equal(matcher.normalizeName("torch"), matcher.normalizeName("TORCH"));
});

test("a versions filter must be a PEP 440 specifier set; the problem names the bad part", () => {
  assert.equal(matcher.versionSpecProblem(">=2.5,<3"), undefined);
  assert.equal(matcher.versionSpecProblem("==2.*"), undefined);
  assert.equal(matcher.versionSpecProblem("===latest"), undefined);
  assert.equal(matcher.versionSpecProblem("=>2.5"), 'not a PEP 440 specifier: "=>2.5"');
  assert.equal(matcher.versionSpecProblem(">=2.5,=<3"), 'not a PEP 440 specifier: "=<3"');
});

test("versions match by PEP 440: local labels by their public part, pre-releases only when named", () => {
  assert.equal(matcher.versionMatches(">=2.5,<3", "2.9.1+cu121"), true);
  assert.equal(matcher.versionMatches(">=2.5,<3", "2.6.0"), true);
  assert.equal(matcher.versionMatches(">=2.5,<3", "2.4.0"), false);
  assert.equal(matcher.versionMatches(">=2.5,<3", "3.0.0"), false);
  assert.equal(matcher.versionMatches(">=2.5,<3", "2.7.0rc1"), false);
  assert.equal(matcher.versionMatches(">=2.7.0rc1", "2.7.0rc1"), true);
  assert.equal(matcher.versionMatches("==2.6.0", "2.6.0+cu121"), true);
  assert.equal(matcher.versionMatches("==2.6.0+cu118", "2.6.0+cu121"), false);
  assert.equal(matcher.versionMatches("==2.*", "2.1"), true);
});

test("a tag that is not PEP 440 matches by its leading version, else only ===", () => {
  assert.equal(matcher.versionMatches(">=2.5,<3", "2.9.0-cuda12.8-cudnn9-runtime"), true);
  assert.equal(matcher.versionMatches(">=2.5,<3", "v2.6.0-slim"), true);
  assert.equal(matcher.versionMatches(">=3", "2.9.0-cuda12.8-cudnn9-runtime"), false);
  assert.equal(matcher.versionMatches(">=2.5,<3", "latest"), false);
  assert.equal(matcher.versionMatches("===latest", "latest"), true);
  assert.equal(matcher.versionMatches("===latest", "nightly"), false);
});

test("an invalid specifier matches nothing instead of throwing", () => {
  assert.equal(matcher.versionMatches("=>2.5", "2.6.0"), false);
});
