import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig, parseConfigText as parseAny } from "../app/load-config.js";
import { ConfigError } from "../errors.js";
import type { PypiMirrorConfig } from "../pypi/config-schema.js";
import { parseDuration, parseSize } from "./duration.js";
import type { Config } from "./schema.js";

/** These configs hold PyPI mirrors only. */
function parseConfigText(
  text: string,
  source: string,
): Omit<Config, "mirrors"> & { mirrors: readonly PypiMirrorConfig[] } {
  return parseAny(text, source) as Omit<Config, "mirrors"> & { mirrors: readonly PypiMirrorConfig[] };
}

const DESIGN_EXAMPLE = `
listen: 0.0.0.0:8080
public_url: http://mirror.example.edu
data_dir: ./data
mirrors:
  pytorch:
    type: pypi
    upstream: https://download.pytorch.org
    indexes: [whl/cu121, whl/cpu]
    projects: [torch, torchvision, torchaudio]
    versions: ">=2.5"
    platforms: ["manylinux*_x86_64", "linux_x86_64"]
    python: [cp311, cp312]
    keep_latest: 3
    schedule: "0 2 * * *"
    watch: 2m
    on_miss: fetch
  pypi: { type: pypi, upstream: https://pypi.org, indexes: [simple], mode: proxy }
`;

test("the DESIGN.md example config loads with defaults filled in", () => {
  const config = parseConfigText(DESIGN_EXAMPLE, "example");
  assert.deepEqual(config.listen, { host: "0.0.0.0", port: 8080 });
  assert.equal(config.publicUrl, "http://mirror.example.edu");
  const pytorch = config.mirrors.find((m) => m.name === "pytorch");
  assert.ok(pytorch);
  assert.deepEqual(pytorch.indexes, ["whl/cu121", "whl/cpu"]);
  assert.equal(pytorch.keepLatest, 3);
  assert.equal(pytorch.watchMs, 120_000);
  assert.deepEqual(pytorch.versions, { "*": ">=2.5" });
  assert.deepEqual(pytorch.schedule, { kind: "cron", expression: "0 2 * * *" });
  assert.equal(pytorch.upstreamTimeoutMs, 10_000);
  assert.deepEqual(pytorch.allowedHosts, ["download.pytorch.org"]);
  const pypi = config.mirrors.find((m) => m.name === "pypi");
  assert.equal(pypi?.mode, "proxy");
  assert.ok(Object.isFrozen(config) && Object.isFrozen(pytorch));
});

test("every problem is reported at once, each with its field path", () => {
  const text = `
listen: "nowhere"
mirrors:
  pytorch:
    type: pypi
    upstream: ftp://example.org
    schedule: dayly
    versions: "=>2.5"
    keep_latest: -1
    shedule: "0 2 * * *"
  bad:
    type: svn
`;
  let error: unknown;
  try {
    parseConfigText(text, "test.yaml");
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError, "expected a ConfigError");
  const problems = error.problems.join("\n");
  assert.match(problems, /^listen: not host:port/m);
  assert.match(problems, /^mirrors\.pytorch\.upstream: not an http\(s\) URL: "ftp:\/\/example\.org"/m);
  assert.match(problems, /^mirrors\.pytorch\.schedule: not a cron expression or interval: "dayly"/m);
  assert.match(problems, /^mirrors\.pytorch\.versions: .*=>2\.5/m);
  assert.match(problems, /^mirrors\.pytorch\.keep_latest: /m);
  assert.match(problems, /^mirrors\.pytorch: unknown field "shedule"/m);
  assert.match(problems, /^mirrors\.bad\.type: /m);
  assert.match(error.message, /test\.yaml/);
});

test("versions can be given per project", () => {
  const config = parseConfigText(
    'mirrors:\n  m: { type: pypi, upstream: "https://download.pytorch.org", versions: { torch: ">=2.5", TorchVision: ">=0.20" } }\n',
    "x.yaml",
  );
  assert.deepEqual(config.mirrors[0]?.versions, { torch: ">=2.5", torchvision: ">=0.20" });
  assert.throws(
    () =>
      parseConfigText(
        'mirrors:\n  m: { type: pypi, upstream: "https://x.org", versions: { torch: "=>2" } }\n',
        "x.yaml",
      ),
    /mirrors\.m\.versions/,
  );
});

test("YAML syntax errors and non-mapping documents are config errors", () => {
  assert.throws(() => parseConfigText("mirrors: [unclosed", "x.yaml"), ConfigError);
  assert.throws(() => parseConfigText("- a\n- b\n", "x.yaml"), /expected a mapping/);
});

test("mirror names that would shadow server routes are refused", () => {
  assert.throws(
    () => parseConfigText("mirrors:\n  api: { type: pypi, upstream: https://pypi.org }\n", "x.yaml"),
    /mirrors\.api: not a usable mirror name/,
  );
});

test("config is found via --config, then FRESHMIRROR_CONFIG, then ./freshmirror.yaml, else the embedded default", () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-config-"));
  const embedded = loadConfig(undefined, {}, dir);
  assert.equal(embedded.source, "embedded default");
  assert.deepEqual(embedded.listen, { host: "0.0.0.0", port: 8080 });
  assert.equal(embedded.dataDir, join(dir, "data"));
  assert.deepEqual(
    embedded.mirrors.map((m) => [m.name, m.type, m.mode]),
    [
      ["pypi", "pypi", "proxy"],
      ["pytorch", "pypi", "proxy"],
      ["dockerhub", "oci", "proxy"],
    ],
  );
  writeFileSync(join(dir, "freshmirror.yaml"), "listen: 127.0.0.1:9001\n");
  assert.equal(loadConfig(undefined, {}, dir).listen.port, 9001);
  writeFileSync(join(dir, "env.yaml"), "listen: 127.0.0.1:9002\n");
  assert.equal(loadConfig(undefined, { FRESHMIRROR_CONFIG: join(dir, "env.yaml") }, dir).listen.port, 9002);
  writeFileSync(join(dir, "flag.yaml"), "listen: 127.0.0.1:9003\n");
  assert.equal(loadConfig("flag.yaml", { FRESHMIRROR_CONFIG: join(dir, "env.yaml") }, dir).listen.port, 9003);
  assert.throws(() => loadConfig("missing.yaml", {}, dir), /cannot read config file/);
});

test("FRESHMIRROR_DATA_DIR wins over data_dir, relative to the working directory, and is checked as data_dir is", () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-config-"));
  writeFileSync(join(dir, "freshmirror.yaml"), "data_dir: ./from-config\n");
  assert.equal(loadConfig(undefined, {}, dir).dataDir, join(dir, "from-config"));
  assert.equal(loadConfig(undefined, { FRESHMIRROR_DATA_DIR: "/srv/fm-data" }, dir).dataDir, "/srv/fm-data");
  assert.equal(loadConfig(undefined, { FRESHMIRROR_DATA_DIR: "state" }, dir).dataDir, join(dir, "state"));
  assert.equal(loadConfig(undefined, { FRESHMIRROR_DATA_DIR: "" }, dir).dataDir, join(dir, "from-config"));
  assert.throws(
    () => loadConfig(undefined, { FRESHMIRROR_DATA_DIR: "/etc" }, dir),
    /FRESHMIRROR_DATA_DIR: "\/etc" is a system directory/,
  );
});

test("durations and sizes parse as operators write them", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2d"), 172_800_000);
  assert.equal(parseDuration("soon"), null);
  assert.equal(parseDuration("10"), null);
  assert.equal(parseSize("10GiB"), 10 * 2 ** 30);
  assert.equal(parseSize("500MB"), 500e6);
  assert.equal(parseSize("1024"), 1024);
  assert.equal(parseSize("lots"), null);
});

test("the README's example config is valid", async () => {
  const { readFileSync } = await import("node:fs");
  const { repoRoot } = await import("../../test/helpers/repo-root.js");
  const readme = readFileSync(join(repoRoot(), "README.md"), "utf8");
  const block = /```yaml\n(# freshmirror\.yaml[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README has the example config");
  const config = parseConfigText(block, "README.md");
  assert.deepEqual(
    config.mirrors.map((m) => m.name),
    ["pytorch", "pytorch-proxy", "pypi", "dockerhub"],
  );
  assert.deepEqual(config.mirrors[1]?.indexes, ["**"]);
  assert.equal(config.mirrors[3]?.type, "oci");
  assert.equal(config.hooks.length, 3);
});

test("indexes: patterns need proxy mode; an omitted list means any index for a proxy, simple for a mirror", () => {
  const config = parseConfigText(
    `
mirrors:
  torch: { type: pypi, upstream: https://download.pytorch.org, mode: proxy, indexes: [whl, "whl/*", "/whl/nightly/*/"] }
  anyidx: { type: pypi, upstream: https://download.pytorch.org, mode: proxy }
  synced: { type: pypi, upstream: https://pypi.org }
`,
    "indexes",
  );
  const byName = (n: string) => config.mirrors.find((m) => m.name === n)?.indexes;
  assert.deepEqual(byName("torch"), ["whl", "whl/*", "whl/nightly/*"]);
  assert.deepEqual(byName("anyidx"), ["**"]);
  assert.deepEqual(byName("synced"), ["simple"]);
  assert.throws(
    () =>
      parseConfigText(
        "mirrors:\n  m: { type: pypi, upstream: https://download.pytorch.org, indexes: [whl/cu121, 'whl/*'] }\n",
        "mirror-glob",
      ),
    (error: unknown) =>
      error instanceof ConfigError &&
      /mirrors\.m\.indexes: patterns \("whl\/\*"\) need mode: proxy/.test(error.message),
  );
  assert.throws(
    () =>
      parseConfigText(
        "mirrors:\n  m: { type: pypi, upstream: https://x.org, mode: proxy, indexes: ['whl/cu*'] }\n",
        "partial-glob",
      ),
    (error: unknown) => error instanceof ConfigError && /must be a whole segment/.test(error.message),
  );
});

test("download and response limits: defaults, per-mirror and top-level values, errors named", () => {
  const defaults = parseConfigText(DESIGN_EXAMPLE, "example");
  const pytorch = defaults.mirrors.find((m) => m.name === "pytorch");
  assert.equal(pytorch?.maxFileSize, 20 * 2 ** 30);
  assert.equal(pytorch?.abandonGraceMs, 30_000);
  assert.equal(defaults.sendTimeoutMs, 60_000);
  assert.equal(defaults.maxFileResponses, 512);
  const set = parseConfigText(
    `
send_timeout: 2m
max_file_responses: 64
mirrors:
  p: { type: pypi, upstream: https://pypi.org, max_file_size: 4GiB, abandon_grace: 5s }
`,
    "set",
  );
  assert.equal(set.mirrors[0]?.maxFileSize, 4 * 2 ** 30);
  assert.equal(set.mirrors[0]?.abandonGraceMs, 5000);
  assert.equal(set.sendTimeoutMs, 120_000);
  assert.equal(set.maxFileResponses, 64);
  assert.throws(
    () =>
      parseConfigText(
        "max_file_responses: 0\nmirrors:\n  p: { type: pypi, upstream: https://pypi.org, max_file_size: big }\n",
        "bad",
      ),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.some((p) => p.startsWith("max_file_responses")) &&
      error.problems.some((p) => p.startsWith("mirrors.p.max_file_size") && /not a size/.test(p)),
  );
});

test("gc_schedule: daily at 03:15 local time by default, a cron or an interval, or off; anything else named", () => {
  const mirrors = "mirrors: { pypi: { type: pypi, upstream: https://pypi.org, mode: proxy } }\n";
  assert.deepEqual(parseConfigText(mirrors, "default").gcSchedule, {
    kind: "cron",
    expression: "15 3 * * *",
  });
  assert.deepEqual(parseConfigText(`gc_schedule: 6h\n${mirrors}`, "interval").gcSchedule, {
    kind: "interval",
    everyMs: 6 * 3_600_000,
  });
  assert.equal(parseConfigText(`gc_schedule: "off"\n${mirrors}`, "off").gcSchedule, null);
  assert.throws(
    () => parseConfigText(`gc_schedule: sometimes\n${mirrors}`, "bad"),
    (error: Error) =>
      error instanceof ConfigError && /gc_schedule/.test(error.message) && /sometimes/.test(error.message),
  );
});
