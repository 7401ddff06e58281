import assert from "node:assert/strict";
import { test } from "node:test";
import {
  isValidName,
  parseDigest,
  parseManifestReference,
  parseRegistryPath,
  validateName,
  validateTag,
} from "./reference.js";
import { OciError } from "./registry-errors.js";

const HEX = "a".repeat(64);

test("repository names follow the spec's component grammar", () => {
  for (const ok of [
    "alpine",
    "library/alpine",
    "a/b/c",
    "my-org/my_app",
    "a__b",
    "a---b",
    "pytorch/pytorch",
    "nvcr.io.mirror/cuda",
  ])
    assert.ok(isValidName(ok), ok);
  for (const bad of [
    "",
    "Alpine",
    "a//b",
    "/a",
    "a/",
    "a/../b",
    "..",
    ".",
    "a/./b",
    "-a",
    "a-",
    "a_",
    "a___b",
    "a..b",
    "a\0b",
    "a%2fb",
    "a b",
    "a:b",
  ])
    assert.ok(!isValidName(bad), JSON.stringify(bad));
});

test("names are capped at 255 characters together with the registry host", () => {
  const name = `a/${"b".repeat(253)}`;
  assert.equal(validateName(name), undefined);
  assert.equal(validateName(`${name}c`)?.ociCode, "NAME_INVALID");
  assert.equal(validateName("a".repeat(240), "registry.example:5000".length)?.ociCode, "NAME_INVALID");
});

test("tags: up to 128 characters of [a-zA-Z0-9_.-], not starting with . or -", () => {
  assert.equal(validateTag("v1.2.3-rc_1"), undefined);
  assert.equal(validateTag(`_${"x".repeat(127)}`), undefined);
  for (const bad of ["", ".hidden", "-x", "a/b", "a:b", `x${"y".repeat(128)}`, "tag\0"])
    assert.equal(validateTag(bad)?.ociCode, "TAG_INVALID", JSON.stringify(bad));
});

test("digests: sha256 and sha512 parse; malformed ones and other algorithms are DIGEST_INVALID", () => {
  const d = parseDigest(`sha256:${HEX}`);
  assert.ok(!(d instanceof OciError));
  assert.equal(d.algorithm, "sha256");
  assert.equal(d.hex, HEX);
  const long = parseDigest(`sha512:${"b".repeat(128)}`);
  assert.ok(!(long instanceof OciError) && long.algorithm === "sha512");
  const upper = parseDigest(`sha256:${"A".repeat(64)}`);
  assert.ok(upper instanceof OciError && /malformed sha256/.test(upper.message));
  const blake = parseDigest(`blake3:${"c".repeat(64)}`);
  assert.ok(
    blake instanceof OciError &&
      blake.ociCode === "DIGEST_INVALID" &&
      /unsupported digest algorithm "blake3"/.test(blake.message),
  );
  assert.ok(parseDigest(`sha256:${HEX.slice(1)}`) instanceof OciError);
  assert.ok(parseDigest("nonsense") instanceof OciError);
});

test("a manifest reference with ':' is a digest, otherwise a tag", () => {
  assert.deepEqual(parseManifestReference("latest"), { kind: "tag", tag: "latest" });
  const r = parseManifestReference(`sha256:${HEX}`);
  assert.ok(!(r instanceof OciError) && r.kind === "digest" && r.digest.hex === HEX);
  assert.ok(parseManifestReference("sha256:zz") instanceof OciError);
});

test("request paths split a slashed name from the endpoint", () => {
  assert.deepEqual(parseRegistryPath("/v2/"), { ok: true, route: { kind: "base" } });
  const m = parseRegistryPath("/v2/library/alpine/manifests/3.23");
  assert.deepEqual(m, {
    ok: true,
    route: { kind: "manifest", name: "library/alpine", reference: { kind: "tag", tag: "3.23" } },
  });
  const b = parseRegistryPath(`/v2/a/b/c/blobs/sha256:${HEX}`);
  assert.ok(b.ok && b.route.kind === "blob" && b.route.name === "a/b/c" && b.route.digest.hex === HEX);
  assert.deepEqual(parseRegistryPath("/v2/org/app/tags/list?n=10&last=v1"), {
    ok: true,
    route: { kind: "tags", name: "org/app" },
  });
  const r = parseRegistryPath(`/v2/org/app/referrers/sha256:${HEX}`);
  assert.ok(r.ok && r.route.kind === "referrers");
  // Endpoint words may be name components: references never hold "/", so the last segments decide.
  const tricky = parseRegistryPath("/v2/a/manifests/b/manifests/latest");
  assert.ok(tricky.ok && tricky.route.kind === "manifest" && tricky.route.name === "a/manifests/b");
  const tags = parseRegistryPath("/v2/x/manifests/tags/list");
  assert.ok(tags.ok && tags.route.kind === "tags" && tags.route.name === "x/manifests");
  const escaped = parseRegistryPath(`/v2/a/manifests/sha256%3A${HEX}`);
  assert.ok(escaped.ok && escaped.route.kind === "manifest" && escaped.route.reference.kind === "digest");
});

test("hostile request paths are refused with a spec error", () => {
  const cases: [string, string][] = [
    ["/v2/../etc/manifests/latest", "NAME_INVALID"],
    ["/v2/a/../../manifests/latest", "NAME_INVALID"],
    ["/v2/a%2fb/manifests/latest", "NAME_INVALID"],
    ["/v2/a/manifests/lat%2fest", "NAME_INVALID"],
    ["/v2/a\0b/manifests/latest", "NAME_INVALID"],
    ["/v2/a//b/manifests/latest", "NAME_INVALID"],
    ["/v2/manifests/latest", "NAME_INVALID"],
    ["/v2/a/manifests/", "TAG_INVALID"],
    ["/v2/a/manifests/..", "TAG_INVALID"],
    ["/v2/a/blobs/latest", "DIGEST_INVALID"],
    [`/v2/a/blobs/md5:${"0".repeat(32)}`, "DIGEST_INVALID"],
    ["/v2/a/tags/other", "NAME_INVALID"],
    ["/v1/a/manifests/latest", "NAME_INVALID"],
    [`/v2/${"a/".repeat(2000)}manifests/latest`, "NAME_INVALID"],
    [`/v2/${"a".repeat(300)}/manifests/latest`, "NAME_INVALID"],
  ];
  for (const [path, code] of cases) {
    const result = parseRegistryPath(path);
    assert.ok(!result.ok, path.slice(0, 60));
    assert.equal(result.error.ociCode, code, path.slice(0, 60));
    assert.ok(result.error.message.length < 400, "messages stay short");
  }
});
