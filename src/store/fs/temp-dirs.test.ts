import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../cli/main.js";
import { bootId, hostTag, processStartTime, selfIdentity } from "../process-alive.js";
import { FsBlobStore as BlobStore } from "./fs-blob-store.js";
import { isDeadTempDir, tempDirName } from "./temp-dirs.js";

const ME = "0123456789abcdef";

test("a temp folder named after PID 1 by an earlier container run is gone, though PID 1 (us) is alive", () => {
  // This run is PID 1 again, in the same container on the same boot.
  const self = { host: hostTag("container"), boot: "a2440160", pid: 1, start: "90000" };
  const earlier = tempDirName({ ...self, start: "1200" }, "fedcba9876543210");
  assert.equal(isDeadTempDir(earlier, self, ME), true);
  // Even were the start ticks the same (no /proc), another instance id is another life.
  assert.equal(isDeadTempDir(tempDirName(self, "fedcba9876543210"), self, ME), true);
  // Our own folder is ours.
  assert.equal(isDeadTempDir(tempDirName(self, ME), self, ME), false);
});

test("a temp folder is kept while its process runs, and swept once the pid names someone else", async (t) => {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"], { stdio: "ignore" });
  t.after(() => child.kill("SIGKILL"));
  await new Promise((resolve) => child.once("spawn", resolve));
  const pid = child.pid as number;
  const start = processStartTime(pid);
  assert.ok(start, "/proc/<pid>/stat gives the start time");
  const self = selfIdentity();
  const live = { host: self.host, boot: self.boot, pid, start };
  assert.equal(isDeadTempDir(tempDirName(live, ME), self, "ffffffffffffffff"), false);
  // Same pid, other start time: the pid was reused by another process since.
  assert.equal(isDeadTempDir(tempDirName({ ...live, start: "1" }, ME), self, "ffffffffffffffff"), true);
  // Another boot: everything from before the reboot is gone.
  assert.equal(isDeadTempDir(tempDirName({ ...live, boot: "00000001" }, ME), self, "ffffffffffffffff"), true);
  // Another host sharing data_dir: we cannot see its processes, so we leave its folders alone.
  assert.equal(
    isDeadTempDir(tempDirName({ ...live, host: "000000", pid: 999_999 }, ME), self, "ffffffffffffffff"),
    false,
  );
});

test("only folders named like ours are ever swept", () => {
  const self = selfIdentity();
  for (const name of [
    "backup",
    "42-my-notes",
    "1234",
    "fm-notes",
    `fm-${self.host}-${self.boot}-999999-1-xyz`,
  ]) {
    assert.equal(isDeadTempDir(name, self, ME), false, name);
  }
  assert.equal(bootId().length, 8);
});

test("read-only commands delete nothing in data_dir/tmp; sync, serve and gc sweep only dead temp folders of ours", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-sweep-"));
  const data = join(dir, "data");
  const tmp = join(data, "tmp");
  mkdirSync(tmp, { recursive: true });
  const self = selfIdentity();
  const dead = tempDirName({ ...self, pid: 1, start: "1" }, "fedcba9876543210");
  const legacyDead = "999999999-deadbeef"; // the old layout, pid no process has
  for (const name of [dead, legacyDead, "42-operator-notes"]) {
    mkdirSync(join(tmp, name));
    writeFileSync(join(tmp, name, "partial.whl"), "x");
  }
  const config = join(dir, "freshmirror.yaml");
  writeFileSync(
    config,
    `data_dir: ${data}\nmirrors:\n  m: { type: pypi, upstream: "http://127.0.0.1:9", mode: proxy }\n`,
  );
  let err = "";
  const io = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    cwd: dir,
  };
  for (const command of [["status"], ["runs", "m"], ["gc", "--dry-run"]]) {
    assert.equal(await main([...command, "--config", config], io), 0, err);
    assert.deepEqual(
      readdirSync(tmp).sort(),
      [dead, legacyDead, "42-operator-notes"].sort(),
      command.join(" "),
    );
  }
  assert.equal(await main(["gc", "--config", config], io), 0, err);
  const left = readdirSync(tmp);
  assert.ok(left.includes("42-operator-notes"), "a folder not named by freshmirror stays");
  assert.ok(
    !left.includes(dead) && !left.includes(legacyDead),
    `dead temp folders are swept: ${left.join(", ")}`,
  );
  // gc's own temp folder is named as ours, with its pid.
  const own = new RegExp(`^fm-[0-9a-f]{6}-[0-9a-f]{8}-${process.pid}-\\d+-[0-9a-f]{16}$`);
  assert.ok(
    left.some((name) => own.test(name)),
    left.join(", "),
  );
});

test("BlobStore.init creates its folders and removes nothing", async () => {
  const data = mkdtempSync(join(tmpdir(), "fm-init-"));
  mkdirSync(join(data, "tmp", "999999999-deadbeef"), { recursive: true });
  await new BlobStore(data).init();
  assert.ok(existsSync(join(data, "tmp", "999999999-deadbeef")));
  assert.ok(existsSync(join(data, "blobs", "sha256")));
});
