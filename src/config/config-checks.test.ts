import assert from "node:assert/strict";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig, parseConfigText } from "../app/load-config.js";
import { ConfigError } from "../errors.js";
import type { PypiMirrorConfig } from "../pypi/config-schema.js";
import { systemDirProblem, unmatchableHost } from "./config-checks.js";

function problemsOf(text: string): string {
  try {
    parseConfigText(text, "x.yaml");
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems.join("\n");
  }
  assert.fail("the config was accepted");
}

test("a negative or zero max_cache_size is refused", () => {
  assert.match(problemsOf("max_cache_size: -5\n"), /^max_cache_size: must be a positive size/m);
  assert.match(problemsOf("max_cache_size: 0\n"), /^max_cache_size: must be a positive size/m);
  assert.equal(parseConfigText("max_cache_size: 10GiB\n", "x.yaml").maxCacheSize, 10 * 2 ** 30);
});

test("zero timeouts and backoffs are refused, each with its field path; zero TTLs are allowed", () => {
  const problems = problemsOf(`
mirrors:
  m:
    type: pypi
    upstream: https://pypi.org
    upstream_timeout: 0s
    fill_timeout: 0
    fail_timeout: 0ms
    retry_backoff: 0s
    retry: { backoff: 0s }
    index_ttl: 0s
    negative_ttl: 0s
`);
  for (const field of [
    "upstream_timeout",
    "fill_timeout",
    "fail_timeout",
    "retry_backoff",
    "retry.backoff",
  ]) {
    assert.match(
      problems,
      new RegExp(`^mirrors\\.m\\.${field.replace(".", "\\.")}: must be longer than 0$`, "m"),
    );
  }
  assert.doesNotMatch(problems, /ttl/);
  // A timer longer than setTimeout can wait would fire at once.
  assert.match(
    problemsOf("mirrors:\n  m: { type: pypi, upstream: https://pypi.org, upstream_timeout: 30d }\n"),
    /^mirrors\.m\.upstream_timeout: too long/m,
  );
  const ok = parseConfigText(
    "mirrors:\n  m: { type: pypi, upstream: https://pypi.org, index_ttl: 0s, negative_ttl: 0s }\n",
    "x.yaml",
  );
  assert.equal((ok.mirrors[0] as PypiMirrorConfig | undefined)?.indexTtlMs, 0);
});

test("allow_hosts entries that can never match a URL's host are refused", () => {
  const problems = problemsOf(`
mirrors:
  m:
    type: pypi
    upstream: https://pypi.org
    allow_hosts: ["https://files.example.org", "files.example.org/simple", "*.example.org", "Files.Example.org", "a b", "files.pythonhosted.org", "[::1]:8080"]
`);
  assert.match(problems, /allow_hosts\[0\]: "https:\/\/files\.example\.org": a host name, not a URL/);
  assert.match(problems, /allow_hosts\[1\]: .*without a path/);
  assert.match(problems, /allow_hosts\[2\]: .*wildcards are not supported/);
  assert.match(problems, /allow_hosts\[3\]: .*write "files\.example\.org"/);
  assert.match(problems, /allow_hosts\[4\]: "a b": not a host name/);
  assert.doesNotMatch(problems, /allow_hosts\[5\]|allow_hosts\[6\]/);
  assert.equal(unmatchableHost("127.0.0.1:8080"), undefined);
});

test("a versions key for a project the mirror does not carry is refused with a suggestion", () => {
  const problems = problemsOf(`
mirrors:
  m:
    type: pypi
    upstream: https://download.pytorch.org
    projects: [torch, torchvision]
    versions: { torch: ">=2.5", torchvison: ">=0.20" }
`);
  assert.match(
    problems,
    /^mirrors\.m\.versions\.torchvison: not one of this mirror's projects \(torch, torchvision\); did you mean "torchvision"\?$/m,
  );
  assert.doesNotMatch(problems, /versions\.torch:/);
  // Without a project list every project is carried, so any key can apply.
  parseConfigText(
    'mirrors:\n  m: { type: pypi, upstream: https://x.org, versions: { anything: ">=1" } }\n',
    "x.yaml",
  );
});

test("a YAML alias bomb is a config error, not a crash or a memory blow-up", () => {
  const bomb = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
    "",
  ].join("\n");
  assert.match(problemsOf(bomb), /^YAML: Excessive alias count/m);
});

test("data_dir may not be / or a system directory", () => {
  for (const dir of ["/", "/etc", "/usr", "/usr/lib/x", "/var", "/tmp", "/proc/self", "/dev", "/boot/"]) {
    assert.match(systemDirProblem(dir) ?? "", /^data_dir: .* is a system directory/, dir);
  }
  for (const dir of [
    "/var/lib/freshmirror",
    "/tmp/x",
    "/srv/mirror",
    "/root/data",
    "/dev/shm/fm",
    "/usr/local/fm",
  ]) {
    assert.equal(systemDirProblem(dir), undefined, dir);
  }
  const cwd = mkdtempSync(join(tmpdir(), "fm-datadir-"));
  const config = join(cwd, "c.yaml");
  for (const [value, expected] of [
    ["/", /data_dir: "\/" is a system directory/],
    ["../../..", /data_dir: "\/" is a system directory/],
  ] as const) {
    writeFileSync(config, `data_dir: ${JSON.stringify(value)}\n`);
    assert.throws(() => loadConfig(config, {}, cwd), expected);
  }
  // A symlink to a system directory is that directory.
  symlinkSync("/etc", join(cwd, "etc-link"));
  writeFileSync(config, "data_dir: ./etc-link\n");
  assert.throws(() => loadConfig(config, {}, cwd), /data_dir: "\/etc" is a system directory/);
});
