import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { parseConfigText } from "../app/load-config.js";
import { ConfigError } from "../errors.js";
import { pypiSubjectMatcher } from "../pypi/subject-matcher.js";
import { EventBus } from "./event-bus.js";
import { hookConfigProblems, hooksSchema, hookVersionMatches } from "./hook-config.js";
import { hookMatches } from "./hook-runner.js";
import { literalMatcher } from "./subject-matcher.js";

const matcherFor = () => pypiSubjectMatcher;

/** The schema's problems and the matcher's (`hooks[1].versions` read as `1.versions`), together. */
function problems(yaml: string): string[] {
  const raw: unknown = parse(yaml);
  const result = hooksSchema.safeParse(raw);
  const found = [
    ...(result.error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`),
    ...hookConfigProblems(raw, matcherFor).map((p) => p.replace(/^hooks\[(\d+)\]/, "$1")),
  ];
  assert.ok(found.length > 0, "expected the config to be rejected");
  return found;
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
  assert.ok(build);
  const audio = new EventBus().emit({
    type: "release.new",
    mirror: "pytorch",
    project: "torch-audio",
    version: "2.6.0",
    files: [],
  });
  assert.equal(hookMatches(build, audio, matcherFor), true, "the project compares PEP 503-normalized");
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
  assert.equal(hookVersionMatches(hook, "2.9.1+cu121", pypiSubjectMatcher), true);
  assert.equal(hookVersionMatches(hook, "2.4.0", pypiSubjectMatcher), false);
  assert.equal(
    hookVersionMatches(hook, "2.7.0rc1", pypiSubjectMatcher),
    false,
    "pre-releases only when the specifier names one",
  );
  assert.equal(hookVersionMatches(hook, undefined, pypiSubjectMatcher), true);
  assert.equal(
    hookVersionMatches(hook, "2.9.0-cuda12.8-cudnn9-runtime", pypiSubjectMatcher),
    true,
    "an image tag by its leading version",
  );
  assert.equal(hookVersionMatches(hook, "latest", pypiSubjectMatcher), false);
});

test("versions filters are checked by the matcher of each hook's mirror, with their field paths", () => {
  const asked: (string | undefined)[] = [];
  const found = hookConfigProblems(
    [
      { on: "new_version", mirror: "pytorch", versions: ">=2.5", command: ["x"] },
      { on: "new_version", mirror: "pytorch", versions: "=>2.5", command: ["x"] },
      { on: "new_version", mirror: "images", versions: " ", command: ["x"] },
      { on: "new_version", versions: "2.5", command: ["x"] },
      { on: "new_version", command: ["x"] },
    ],
    (mirror) => {
      asked.push(mirror);
      return mirror === "images" ? literalMatcher : pypiSubjectMatcher;
    },
  );
  assert.deepEqual(found, [
    'hooks[1].versions: not a PEP 440 specifier: "=>2.5"',
    "hooks[2].versions: an empty version filter (give the exact version to match)",
    'hooks[3].versions: not a PEP 440 specifier: "2.5"',
  ]);
  assert.deepEqual(
    asked,
    ["pytorch", "pytorch", "images", undefined],
    "a hook on every mirror asks with undefined",
  );
  assert.deepEqual(hookConfigProblems(undefined, matcherFor), []);
  assert.deepEqual(
    hookConfigProblems([null, 3, { versions: 2 }], matcherFor),
    [],
    "the schema reports those",
  );
});

test("the config loader reports a bad versions filter together with the schema's problems", () => {
  const yaml = `
hooks:
  - on: new_version
    versions: "=>2.5"
    command: [x]
  - on: new_versions
    command: [y]
`;
  let error: unknown;
  try {
    parseConfigText(yaml, "hooks.yaml");
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ConfigError, "the config is refused");
  assert.match(error.message, /hooks\[0\]\.versions: not a PEP 440 specifier: "=>2\.5"/);
  assert.match(error.message, /hooks\[1\]\.on: unknown event "new_versions"/);
  assert.throws(
    () => parseConfigText("hooks:\n  - { on: new_version, versions: '=>2.5', command: [x] }\n", "alone.yaml"),
    /hooks\[0\]\.versions: not a PEP 440 specifier/,
    "also when it is the only problem",
  );
  const config = parseConfigText(
    "hooks:\n  - { on: new_version, versions: '>=2.5', command: [x] }\n",
    "ok.yaml",
  );
  assert.equal(config.hooks[0]?.versions, ">=2.5");
});
