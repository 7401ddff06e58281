import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPlatform, normalizePlatform, parsePlatform, platformsMatch } from "./platform.js";

test("platform strings parse and normalise as containerd does", () => {
  assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64", variant: "" });
  assert.deepEqual(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64", variant: "" });
  assert.deepEqual(parsePlatform("linux/aarch64"), { os: "linux", architecture: "arm64", variant: "" });
  assert.deepEqual(parsePlatform("linux/x86_64"), { os: "linux", architecture: "amd64", variant: "" });
  assert.deepEqual(parsePlatform("linux/arm"), { os: "linux", architecture: "arm", variant: "v7" });
  assert.deepEqual(parsePlatform("linux/arm/6"), { os: "linux", architecture: "arm", variant: "v6" });
  assert.equal(
    formatPlatform(normalizePlatform({ os: "Linux", architecture: "ARM64", variant: "9" })),
    "linux/arm64/v9",
  );
  for (const bad of ["linux", "linux/", "a/b/c/d", "linux/amd 64", ""])
    assert.equal(parsePlatform(bad), undefined, bad);
});

test("matching: arm64 is arm64/v8, arm v6 is not arm v7, os must agree", () => {
  assert.ok(
    platformsMatch(
      { os: "linux", architecture: "arm64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ),
  );
  assert.ok(platformsMatch({ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "x86_64" }));
  assert.ok(
    !platformsMatch(
      { os: "linux", architecture: "arm", variant: "v6" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ),
  );
  assert.ok(
    !platformsMatch({ os: "windows", architecture: "amd64" }, { os: "linux", architecture: "amd64" }),
  );
  assert.ok(
    !platformsMatch(
      { os: "linux", architecture: "arm64", variant: "v9" },
      { os: "linux", architecture: "arm64" },
    ),
  );
});
