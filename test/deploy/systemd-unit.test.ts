// deploy/systemd/freshmirror.service: a sandboxed unit that systemd accepts without a warning,
// whose sandbox `systemd-analyze security` rates, and that starts freshmirror as documented.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/repo-root.js";

const UNIT = join(repoRoot(), "deploy", "systemd", "freshmirror.service");
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const skip = existsSync(SYSTEMD_ANALYZE)
  ? undefined
  : `${SYSTEMD_ANALYZE} not found (apt-get install systemd)`;

/** Every `Key=value` of a section, in order (a key may repeat). */
function section(text: string, name: string): [string, string][] {
  const entries: [string, string][] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1] as string;
    else if (current === name) {
      const at = line.indexOf("=");
      entries.push([line.slice(0, at), line.slice(at + 1)]);
    }
  }
  return entries;
}

/** The unit as systemd-analyze reads it here: ExecStart's node is this machine's node. */
function unitCopy(dir: string): string {
  const path = join(dir, "freshmirror.service");
  if (existsSync("/usr/bin/node")) copyFileSync(UNIT, path);
  else
    writeFileSync(
      path,
      readFileSync(UNIT, "utf8").replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `),
    );
  return path;
}

test("the systemd unit sandboxes freshmirror: dynamic user, state directory, read-only system", () => {
  const service = section(readFileSync(UNIT, "utf8"), "Service");
  const value = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);
  const expected: Record<string, string> = {
    DynamicUser: "yes",
    User: "freshmirror",
    StateDirectory: "freshmirror",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    NoNewPrivileges: "yes",
    RestrictSUIDSGID: "yes",
    CapabilityBoundingSet: "",
  };
  for (const [key, want] of Object.entries(expected)) assert.deepEqual(value(key), [want], key);
  // The data directory is the state directory, and the config is read from /etc/freshmirror.
  assert.ok(value("Environment").includes("FRESHMIRROR_DATA_DIR=/var/lib/freshmirror"));
  assert.ok(value("Environment").includes("FRESHMIRROR_CONFIG=/etc/freshmirror/freshmirror.yaml"));
  assert.deepEqual(value("ExecStart"), [
    "/usr/bin/node --enable-source-maps /opt/freshmirror/dist/src/cli/main.js serve",
  ]);
  assert.deepEqual(value("MemoryDenyWriteExecute"), [], "V8's JIT needs writable and executable memory");
  assert.deepEqual(section(readFileSync(UNIT, "utf8"), "Install"), [["WantedBy", "multi-user.target"]]);
});

test("systemd-analyze verify accepts the unit without a warning", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-systemd-"));
  try {
    const path = unitCopy(dir);
    const result = spawnSync(SYSTEMD_ANALYZE, ["verify", path], { encoding: "utf8" });
    const ours = `${result.stdout}${result.stderr}`
      .split("\n")
      .filter((line) => line.includes("freshmirror.service"));
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.deepEqual(ours, [], "warnings about the unit (an unknown key, a bad value)");

    // The check is real: a misspelt key is reported.
    writeFileSync(path, readFileSync(path, "utf8").replace("ProtectSystem=strict", "ProtectSytem=strict"));
    const misspelt = spawnSync(SYSTEMD_ANALYZE, ["verify", path], { encoding: "utf8" });
    assert.match(`${misspelt.stdout}${misspelt.stderr}`, /Unknown key 'ProtectSytem'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("systemd-analyze security rates the unit's sandbox OK (exposure at most 2.0 of 10)", { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fm-systemd-"));
  try {
    const result = spawnSync(SYSTEMD_ANALYZE, ["security", "--offline=yes", unitCopy(dir)], {
      encoding: "utf8",
    });
    if (/unrecognized option|--offline/.test(result.stderr) && result.status !== 0) {
      t.skip("systemd-analyze security has no --offline here (systemd before 252)");
      return;
    }
    const match = /Overall exposure level for freshmirror\.service: (\d+\.\d+)/.exec(result.stdout);
    assert.ok(match, `${result.stdout}${result.stderr}`);
    assert.ok(Number(match[1]) <= 2.0, `exposure ${match[1]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
