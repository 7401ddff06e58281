import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { hooksSchema, hookVersionMatches } from "./hook-config.js";

function problems(yaml: string): string[] {
  const result = hooksSchema.safeParse(parse(yaml));
  assert.equal(result.success, false, "expected the config to be rejected");
  return (result.error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);
}

test("hooks resolve from snake_case YAML with defaults, aliases and normalized project names", () => {
  const hooks = hooksSchema.parse(
    parse(`
- on: new_version
  mirror: pytorch
  project: Torch_Audio
  versions: ">=2.5"
  command: ["./build-image.sh", "{version}"]
- name: ci
  on: [sync.failed, sync.succeeded]
  webhook: { url: "https://ci.example.edu/hook", secret_env: FM_SECRET }
- on: "sync.*"
  webhook: { url: "http://127.0.0.1:9/x", secret: s3cret, timeout: 2s, retries: 1 }
  `),
  );
  const [build, ci, all] = hooks;
  assert.equal(build?.kind, "command");
  assert.equal(build?.id, "hooks[0]");
  assert.deepEqual(build?.on, ["release.new"]);
  assert.equal(build?.project, "torch-audio");
  if (build?.kind === "command") {
    assert.deepEqual(build.command, ["./build-image.sh", "{version}"]);
    assert.equal(build.timeoutMs, 10 * 60_000, "commands default to 10m");
  }
  assert.equal(ci?.id, "ci");
  if (ci?.kind === "webhook") {
    assert.equal(ci.secretEnv, "FM_SECRET");
    assert.equal(ci.timeoutMs, 10_000, "webhooks default to 10s");
    assert.equal(ci.retries, 5);
  } else assert.fail("ci is a webhook");
  assert.deepEqual(all?.on, ["sync.started", "sync.succeeded", "sync.failed"]);
  if (all?.kind === "webhook") {
    assert.equal(all.timeoutMs, 2000);
    assert.equal(all.retries, 1);
  } else assert.fail("a webhook");
  assert.ok(Object.isFrozen(hooks) && Object.isFrozen(build));
});

test("a command given as a shell string is a config error that says to use an argv list", () => {
  const found = problems(`[{ on: new_version, command: "./build.sh {version} && push" }]`);
  assert.equal(found.length, 1);
  assert.match(found[0] ?? "", /^0\.command: must be an argv list, not a shell string/);
  assert.match(found[0] ?? "", /\["\.\/build\.sh","\{version\}","&&","push"\]/);
});

test("every problem is reported with its path", () => {
  const found = problems(`
- on: new_versions
  command: [x]
- on: release.new
  versions: "=>2.5"
  webhook: { url: "ftp://example.edu/", secret: a, secret_env: B }
- on: sync.failed
- on: sync.failed
  webhook: { url: "http://127.0.0.1/" }
  command: [y]
  timeout: soon
- on: sync.failed
  versions: ">=1"
  command: [z]
  `);
  const text = found.join("\n");
  assert.match(text, /^0\.on: unknown event "new_versions"; use one of .*new_version/m);
  assert.match(text, /^1\.versions: not a PEP 440 specifier: "=>2\.5"/m);
  assert.match(text, /^1\.webhook\.url: not an http\(s\) URL/m);
  assert.match(text, /^1\.webhook\.secret_env: give secret or secret_env, not both/m);
  assert.match(text, /^2: a hook needs webhook: \{url: \.\.\.\} or command: \[argv\.\.\.\]/m);
  assert.match(text, /^3\.command: a hook has webhook or command, not both/m);
  assert.match(text, /^3\.timeout: not a duration \(command timeout\): "soon"/m);
  assert.match(text, /^4\.versions: only release\.new/m);
});

test("unknown fields and duplicate names are rejected", () => {
  const found = problems(`
- { name: a, on: sync.failed, command: [x], shell: true }
- { name: a, on: sync.failed, command: [y] }
  `);
  assert.ok(
    found.some((p) => /^0: Unrecognized key.*shell/i.test(p)),
    found.join("\n"),
  );
  assert.ok(
    found.some((p) => /^1\.name: hook name "a" is already used by hooks\[0\]/.test(p)),
    found.join("\n"),
  );
});

test("the versions filter applies PEP 440 (local labels, pre-releases) and passes events without a version", () => {
  const [hook] = hooksSchema.parse([{ on: "new_version", versions: ">=2.5,<3", command: ["x"] }]);
  assert.ok(hook);
  assert.equal(hookVersionMatches(hook, "2.9.1+cu121"), true);
  assert.equal(hookVersionMatches(hook, "2.4.0"), false);
  assert.equal(hookVersionMatches(hook, "2.7.0rc1"), false, "pre-releases only when the specifier names one");
  assert.equal(hookVersionMatches(hook, undefined), true);
  assert.equal(
    hookVersionMatches(hook, "2.9.0-cuda12.8-cudnn9-runtime"),
    true,
    "an image tag by its leading version",
  );
  assert.equal(hookVersionMatches(hook, "latest"), false);
});
