import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeRepositoryName, ociSubjectMatcher, splitSubject } from "./subject-matcher.js";

test("OCI subjects: repositories compare with Docker Hub's library/ implied; tags match exactly or by /regex/", () => {
  assert.equal(normalizeRepositoryName("Alpine"), "library/alpine");
  assert.equal(normalizeRepositoryName("pytorch/pytorch"), "pytorch/pytorch");
  assert.equal(
    ociSubjectMatcher.versionMatches("2.9.0-cuda12.8-cudnn9-runtime", "2.9.0-cuda12.8-cudnn9-runtime"),
    true,
  );
  assert.equal(ociSubjectMatcher.versionMatches("2.9.0", "2.9.0-cuda12.8-cudnn9-runtime"), false);
  assert.equal(ociSubjectMatcher.versionMatches("/-cuda12\\.8-/", "2.9.0-cuda12.8-cudnn9-runtime"), true);
  assert.equal(ociSubjectMatcher.versionMatches("/^2\\.8/", "2.9.0-cuda12.8-cudnn9-runtime"), false);
  assert.equal(
    ociSubjectMatcher.versionSpecProblem("/[/"),
    "not a regular expression: Invalid regular expression: /[/: Unterminated character class",
  );
  assert.match(String(ociSubjectMatcher.versionSpecProblem(">=2.5")), /invalid tag/);
  assert.equal(ociSubjectMatcher.versionMatches(">=2.5", "2.5"), false, "an invalid filter matches nothing");
  assert.deepEqual(splitSubject("pytorch/pytorch:2.9.0"), { repository: "pytorch/pytorch", tag: "2.9.0" });
  assert.deepEqual(splitSubject("localhost:5000/img"), { repository: "localhost:5000/img", tag: undefined });
  assert.deepEqual(splitSubject("org/img"), { repository: "org/img", tag: undefined });
});
