import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../app/load-config.js";
import { ConfigError } from "../errors.js";
import type { OciMirrorConfig } from "./config-schema.js";

function oci(yaml: string, env: NodeJS.ProcessEnv = {}): OciMirrorConfig[] {
  return parseConfigText(`mirrors:\n${yaml}`, "t.yaml", env).mirrors as OciMirrorConfig[];
}

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    oci(yaml, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail("the config was accepted");
}

test("type: oci is accepted with defaults; Docker Hub's API host means docker.io", () => {
  const [hub] = oci("  hub: { type: oci, upstream: https://registry-1.docker.io }\n");
  assert.ok(hub);
  assert.equal(hub.type, "oci");
  assert.equal(hub.registry, "docker.io");
  assert.equal(hub.mode, "proxy");
  assert.equal(hub.tagTtlMs, 10 * 60_000);
  assert.deepEqual(hub.images, {});
  assert.equal(hub.platforms, undefined);
  assert.deepEqual(hub.allowedHosts, ["registry-1.docker.io"]);
  assert.equal(hub.upstreamAuth, undefined);
  assert.ok(Object.isFrozen(hub));
});

test("registry defaults to the upstream's host and can be named", () => {
  const [ghcr, nv, explicitHub] = oci(
    [
      "  ghcr: { type: oci, upstream: https://ghcr.io }",
      "  nvcr: { type: oci, upstream: 'http://127.0.0.1:5000', registry: nvcr.io }",
      "  hub: { type: oci, upstream: 'http://127.0.0.1:5001', registry: registry-1.docker.io }",
      "",
    ].join("\n"),
  );
  assert.equal(ghcr?.registry, "ghcr.io");
  assert.equal(nv?.registry, "nvcr.io");
  assert.equal(explicitHub?.registry, "docker.io");
});

test("the default immutable_tags match version + CUDA/cuDNN tags only", () => {
  const [hub] = oci("  hub: { type: oci, upstream: https://registry-1.docker.io }\n");
  const immutable = (tag: string) => hub?.immutableTags.some((re) => re.test(tag)) ?? false;
  assert.ok(immutable("2.9.0-cuda12.8-cudnn9-runtime"));
  assert.ok(immutable("12.8.0-cudnn-runtime-ubuntu22.04"));
  assert.ok(!immutable("latest"));
  assert.ok(!immutable("nightly-cuda"));
  assert.ok(!immutable("2.9.0"));
  const [custom] = oci("  hub: { type: oci, upstream: https://r.example, immutable_tags: ['^v\\d'] }\n");
  assert.equal(custom?.immutableTags.length, 1);
  assert.ok(custom?.immutableTags[0]?.test("v1.2"));
});

test("images: exact tags and /regex/, official Docker Hub names under library/; platforms checked", () => {
  const [hub] = oci(
    [
      "  hub:",
      "    type: oci",
      "    upstream: https://registry-1.docker.io",
      "    tag_ttl: 2m",
      "    images:",
      "      pytorch/pytorch: ['2.9.0-cuda12.8-cudnn9-runtime', '/^2\\.9\\..*-runtime$/']",
      "      ubuntu: ['24.04']",
      "    platforms: [linux/amd64, linux/arm64/v8]",
      "",
    ].join("\n"),
  );
  assert.ok(hub);
  assert.equal(hub.mode, "mirror");
  assert.equal(hub.tagTtlMs, 120_000);
  assert.deepEqual(Object.keys(hub.images).sort(), ["library/ubuntu", "pytorch/pytorch"]);
  const selectors = hub.images["pytorch/pytorch"] ?? [];
  assert.deepEqual(selectors[0], { kind: "exact", tag: "2.9.0-cuda12.8-cudnn9-runtime" });
  const pattern = selectors[1];
  assert.equal(pattern?.kind, "pattern");
  assert.ok(pattern?.kind === "pattern" && pattern.pattern.test("2.9.1-cuda12.8-cudnn9-runtime"));
  assert.deepEqual(hub.platforms, ["linux/amd64", "linux/arm64/v8"]);
});

test("bad OCI entries are reported with their field paths", () => {
  const text = problems(
    [
      "  hub:",
      "    type: oci",
      "    upstream: ftp://registry.example",
      "    registry: 'Not A Host'",
      "    immutable_tags: ['(']",
      "    images: { 'Bad/Name': [latest], ok/name: ['-bad', '/(/'] }",
      "    platforms: [amd64]",
      "    tag_ttl: soon",
      "",
    ].join("\n"),
  );
  assert.match(text, /mirrors\.hub\.upstream: not an http\(s\) URL/);
  assert.match(text, /mirrors\.hub\.registry: not a registry host name/);
  assert.match(text, /mirrors\.hub\.immutable_tags\[0\]: not a regular expression/);
  assert.match(text, /mirrors\.hub\.images\.ok\/name\[0\]: invalid tag/);
  assert.match(text, /mirrors\.hub\.images\.ok\/name\[1\]: not a regular expression/);
  assert.match(text, /mirrors\.hub\.platforms\[0\]: not a platform/);
  assert.match(text, /mirrors\.hub\.tag_ttl: not a duration/);
});

test("repository names in images: are checked, and mode: mirror needs images", () => {
  assert.match(
    problems("  hub: { type: oci, upstream: https://r.example, images: { 'Bad/Name': [latest] } }\n"),
    /mirrors\.hub\.images\.Bad\/Name: invalid repository name/,
  );
  assert.match(
    problems("  hub: { type: oci, upstream: https://r.example, mode: mirror }\n"),
    /mirrors\.hub\.mode: mode: mirror pre-syncs the images/,
  );
});

test("two mirrors may not claim the same registry", () => {
  assert.match(
    problems(
      "  a: { type: oci, upstream: https://registry-1.docker.io }\n  b: { type: oci, upstream: 'http://127.0.0.1:5000', registry: docker.io }\n",
    ),
    /mirrors\.b\.registry: "docker\.io" is already the registry of mirror "a"/,
  );
});

test("credentials come from username_env/password_env and are never shown", () => {
  const [hub] = oci(
    "  hub: { type: oci, upstream: https://registry-1.docker.io, username_env: HUB_USER, password_env: HUB_TOKEN }\n",
    { HUB_USER: "me", HUB_TOKEN: "dckr_pat_secret" },
  );
  assert.equal(hub?.upstreamAuth?.username, "me");
  assert.equal(hub?.upstreamAuth?.password(), "dckr_pat_secret");
  assert.ok(!JSON.stringify(hub).includes("dckr_pat_secret"));
  assert.match(
    problems("  hub: { type: oci, upstream: https://r.example, username_env: U, password_env: P }\n", {
      U: "me",
    }),
    /mirrors\.hub\.password_env: environment variable P is not set/,
  );
});

test("an unknown type names the kinds there are", () => {
  assert.match(
    problems("  x: { type: npm, upstream: https://r.example }\n"),
    /expected one of "pypi", "oci"/,
  );
});
