import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { parseConfigText } from "../app/load-config.js";
import { configToUserForm, configToYaml, formatDurationSpec, formatSizeSpec } from "./config-yaml.js";
import { DEFAULT_CONFIG_YAML } from "./default-config.js";
import { parseDuration, parseSize } from "./duration.js";

const CONFIG = `
listen: 127.0.0.1:9000
public_url: http://mirror.example.edu
data_dir: /srv/freshmirror
gc_grace: 2h
max_cache_size: 500GiB
mirrors:
  pytorch:
    type: pypi
    upstream: https://download.pytorch.org
    indexes: [whl/cu121, whl/cpu]
    projects: [torch, torchvision]
    versions: { torch: ">=2.5" }
    platforms: ["manylinux*_x86_64"]
    python: [cp311]
    keep_latest: 3
    schedule: "0 2 * * *"
    watch: 2m
    allow_hosts: [download-r2.pytorch.org]
    retry: { count: 4, backoff: 90s }
  pypi: { type: pypi, upstream: https://pypi.org, mode: proxy, schedule: 6h, max_file_size: 1GiB }
  hub:
    type: oci
    upstream: https://registry-1.docker.io
    images: { pytorch/pytorch: ["2.9.0-cuda12.8-cudnn9-runtime", '/^2\\.9\\..*-runtime$/'] }
    platforms: [linux/amd64]
    immutable_tags: ['^v\\d+']
hooks:
  - on: new_version
    mirror: pytorch
    command: ["echo", "{version}"]
    timeout: 1h
  - on: [sync.failed]
    webhook: { url: "https://ci.example.edu/hook", secret_env: HOOK_SECRET }
`;

test("durations and sizes are written as parseDuration and parseSize read them back", () => {
  for (const ms of [0, 1, 999, 1000, 90_000, 3_600_000, 5_400_000, 86_400_000, 93_784_005]) {
    assert.equal(parseDuration(formatDurationSpec(ms)), ms, formatDurationSpec(ms));
  }
  assert.equal(formatDurationSpec(90_000), "1m30s");
  assert.equal(formatSizeSpec(20 * 2 ** 30), "20GiB");
  assert.equal(formatSizeSpec(1000), 1000);
  assert.equal(parseSize(String(formatSizeSpec(3 * 2 ** 20))), 3 * 2 ** 20);
});

test("config check's YAML has the keys an operator writes, and loads back into the same config", () => {
  const env = { HOOK_SECRET: "s3cret" };
  for (const text of [CONFIG, DEFAULT_CONFIG_YAML]) {
    const config = parseConfigText(text, "t", env);
    const yaml = configToYaml(config);
    assert.doesNotMatch(yaml, /^[\s-]*[a-z_]*[A-Z][A-Za-z_]*:/m, "no camelCase key");
    const again = parseConfigText(yaml, "t", env);
    assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(config)));
  }
  // Patterns and tag selectors are shown as written, not as objects.
  const hub = (parse(configToYaml(parseConfigText(CONFIG, "t", env))) as { mirrors: Record<string, unknown> })
    .mirrors.hub as Record<string, unknown>;
  assert.deepEqual(hub.immutable_tags, ["^v\\d+"]);
  assert.deepEqual(hub.images, {
    "pytorch/pytorch": ["2.9.0-cuda12.8-cudnn9-runtime", "/^2\\.9\\..*-runtime$/"],
  });
  const form = configToUserForm(parseConfigText(CONFIG, "t", env)) as {
    listen: string;
    gc_grace: string;
    max_cache_size: string;
    mirrors: Record<string, Record<string, unknown>>;
    hooks: Record<string, unknown>[];
  };
  assert.equal(form.listen, "127.0.0.1:9000");
  assert.equal(form.gc_grace, "2h");
  assert.equal(form.max_cache_size, "500GiB");
  const torch = form.mirrors.pytorch ?? {};
  assert.equal(torch.schedule, "0 2 * * *");
  assert.equal(torch.watch, "2m");
  assert.deepEqual(torch.allow_hosts, ["download-r2.pytorch.org"]);
  assert.deepEqual(torch.retry, { count: 4, backoff: "1m30s" });
  assert.equal(torch.upstream_timeout, "10s");
  assert.equal(form.mirrors.pypi?.schedule, "6h");
  assert.equal(form.mirrors.pypi?.max_file_size, "1GiB");
  const webhook = (form.hooks[1]?.webhook ?? {}) as Record<string, unknown>;
  assert.equal(webhook.url, "https://ci.example.edu/hook");
  assert.equal(webhook.secret_env, "HOOK_SECRET", "the variable's name, never its value");
  assert.equal(form.hooks[0]?.timeout, "1h");
  assert.ok(!configToYaml(parseConfigText(CONFIG, "t", env)).includes("s3cret"));
  assert.equal(typeof parse(configToYaml(parseConfigText(CONFIG, "t", env))), "object");
});
