// `freshmirror check` against two real fixture indexes on 127.0.0.1: one the upstream, one a
// mirror that lags behind it.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type PypiUpstream,
  publishTorchLike,
  startPypiUpstream,
} from "../../../test/fixtures/pypi-upstream.js";
import { until } from "../../../test/helpers/until.js";
import type { CommandIo } from "../../cli/command-io.js";
import { checkCommand, checkHelp } from "./check-command.js";
import type { CheckReport } from "./check-report.js";

const INDEX = "whl/cu121";
const NEW_TORCH = { index: INDEX, project: "torch", version: "2.8.0+cu121", dependencies: ["filelock"] };
const NEW_PLATFORMS = [
  { pythonTag: "cp311", abiTag: "cp311", platformTag: "linux_x86_64" },
  { pythonTag: "cp312", abiTag: "cp312", platformTag: "linux_x86_64" },
];

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CommandIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: process.env,
    cwd: process.cwd(),
  };
  const code = await checkCommand(args, io);
  return { code, stdout, stderr };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("freshmirror check", () => {
  let upstream: PypiUpstream;
  let mirror: PypiUpstream;
  let htmlMirror: PypiUpstream;
  let upstreamIndex: string;
  let mirrorIndex: string;
  let newFiles: string[];
  let uploadTime: number;

  before(async () => {
    [upstream, mirror, htmlMirror] = await Promise.all([
      startPypiUpstream({ indexes: [INDEX] }),
      startPypiUpstream({ indexes: [INDEX] }),
      startPypiUpstream({ indexes: [INDEX], format: "html" }),
    ]);
    await Promise.all([publishTorchLike(upstream), publishTorchLike(mirror), publishTorchLike(htmlMirror)]);
    uploadTime = Date.now();
    const published = await upstream.publishAll(NEW_PLATFORMS.map((p) => ({ ...NEW_TORCH, ...p })));
    newFiles = published.map((p) => p.filename).sort();
    upstreamIndex = `${upstream.url}/${INDEX}`;
    mirrorIndex = `${mirror.url}/${INDEX}/`;
  });
  after(async () => {
    await Promise.all([upstream.close(), mirror.close(), htmlMirror.close()]);
  });

  test("a lagging mirror: exit 1, the missing version and its files, and since when upstream has had them", async () => {
    const human = await run(["--mirror", mirrorIndex, "--upstream", upstreamIndex, "--project", "torch"]);
    assert.equal(human.code, 1, human.stdout + human.stderr);
    assert.match(
      human.stdout,
      /^torch: behind: lacks 2 files in 1 version; behind since \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ (ms|s)\)$/m,
    );
    assert.match(
      human.stdout,
      /^ {2}newest upstream: 2\.8\.0\+cu121; newest complete on the mirror: 2\.7\.0rc1\+cu121$/m,
    );
    assert.match(human.stdout, /^ {2}missing 2\.8\.0\+cu121: 2 files, behind since /m);
    for (const filename of newFiles) assert.ok(human.stdout.includes(`    ${filename}\n`), human.stdout);
    assert.equal(human.stdout.match(/^ {2}missing /gm)?.length, 1, "versions the mirror has are not listed");

    const json = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "--project",
      "torch",
      "--json",
    ]);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.equal(report.status, "behind");
    const [torch] = report.projects;
    assert.equal(torch?.status, "behind");
    assert.deepEqual(
      torch?.missingVersions.map((v) => [v.version, v.files, v.missing]),
      [["2.8.0+cu121", 2, 2]],
    );
    assert.deepEqual(torch?.missingFiles.map((f) => f.filename).sort(), newFiles);
    const since = Date.parse(torch?.behindSince ?? "");
    assert.ok(Math.abs(since - uploadTime) < 5000, `behind since the upload (${torch?.behindSince})`);
    assert.ok((torch?.behindMs ?? -1) >= 0);
    assert.equal(torch?.differs.length, 0, "the files both have are byte-identical");
  });

  test("a mirror that has everything matching --version is current: exit 0", async () => {
    const result = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "--project",
      "torch",
      "--project",
      "filelock",
      "--version",
      "<2.8",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /^torch: current: 4 versions, 12 files matching <2\.8, newest 2\.6\.0\+cu121$/m,
    );
    // filelock 3.13.1 does not match <2.8: nothing wanted.
    assert.match(result.stdout, /^filelock: current \(upstream has no version matching <2\.8\)$/m);
    const bare = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "-p",
      "torch",
      "--version",
      "2.8.0",
    ]);
    assert.equal(bare.code, 1, "a bare version means ==");
  });

  test("an HTML-only mirror is compared too; without upload times the lag is 'since unknown'", async () => {
    const result = await run([
      "--mirror",
      `${htmlMirror.url}/${INDEX}`,
      "--upstream",
      `${htmlMirror.url}/${INDEX}`,
      "--project",
      "torch",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const behind = await run([
      "--mirror",
      `${htmlMirror.url}/${INDEX}`,
      "--upstream",
      upstreamIndex,
      "--project",
      "torch",
    ]);
    assert.equal(behind.code, 1);
    assert.match(
      behind.stdout,
      /missing 2\.8\.0\+cu121: 2 files, behind since \d{4}-/,
      "upload times come from upstream's JSON",
    );
    const reversed = await run([
      "--mirror",
      upstreamIndex,
      "--upstream",
      `${htmlMirror.url}/${INDEX}`,
      "--project",
      "torch",
    ]);
    assert.equal(reversed.code, 0, "files the mirror has beyond upstream do not make it behind");
    await htmlMirror.publish({ index: INDEX, project: "html-only", version: "0.1" });
    const unknown = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      `${htmlMirror.url}/${INDEX}`,
      "--project",
      "html-only",
    ]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /behind since unknown \(upstream gives no upload times\)/);
  });

  test("a project the mirror does not have at all is behind; one upstream does not have is an error", async () => {
    const other = await startPypiUpstream({ indexes: [INDEX] });
    try {
      await other.publish({ index: INDEX, project: "demo", version: "1.0" });
      const lacking = await run([
        "--mirror",
        mirrorIndex,
        "--upstream",
        `${other.url}/${INDEX}`,
        "--project",
        "demo",
      ]);
      assert.equal(lacking.code, 1, lacking.stdout);
      assert.match(
        lacking.stdout,
        /^demo: behind \(the mirror has no page for it\): lacks 1 file in 1 version/m,
      );
      const unknown = await run([
        "--mirror",
        mirrorIndex,
        "--upstream",
        upstreamIndex,
        "--project",
        "no-such-project",
      ]);
      assert.equal(unknown.code, 2);
      assert.match(
        unknown.stdout,
        /no-such-project: error: upstream: no project page at .*no-such-project\/ \(HTTP 404\)/,
      );
    } finally {
      await other.close();
    }
  });

  test("a file whose sha256 differs is reported as differs: exit 1", async () => {
    const [a, b] = await Promise.all([
      startPypiUpstream({ indexes: [INDEX] }),
      startPypiUpstream({ indexes: [INDEX] }),
    ]);
    try {
      await a.publish({ index: INDEX, project: "demo", version: "1.0" });
      const changed = await b.publish({
        index: INDEX,
        project: "demo",
        version: "1.0",
        extraFiles: { "demo/x.txt": "other" },
      });
      const result = await run([
        "--mirror",
        `${b.url}/${INDEX}`,
        "--upstream",
        `${a.url}/${INDEX}`,
        "--project",
        "demo",
      ]);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stdout, /^demo: behind: 1 file differ;/m);
      assert.ok(result.stdout.includes(`differs ${changed.filename}: upstream sha256 `), result.stdout);
      assert.ok(result.stdout.includes(`mirror sha256 ${changed.sha256}`));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("an unreachable mirror, a 500 or a malformed page is exit 2 with the reason", async () => {
    const port = await closedPort();
    const down = await run([
      "--mirror",
      `http://127.0.0.1:${port}/simple`,
      "--upstream",
      upstreamIndex,
      "--project",
      "torch",
    ]);
    assert.equal(down.code, 2);
    assert.match(
      down.stdout,
      new RegExp(
        `torch: error: mirror: cannot reach http://127\\.0\\.0\\.1:${port}/simple/torch/: ECONNREFUSED`,
      ),
    );
    const json = await run([
      "--mirror",
      `http://127.0.0.1:${port}/simple`,
      "--upstream",
      upstreamIndex,
      "--project",
      "torch",
      "--json",
    ]);
    assert.equal(json.code, 2);
    assert.equal(
      (JSON.parse(json.stdout) as CheckReport).projects[0]?.error?.code,
      "FM_ERR_UPSTREAM_NETWORK",
    );

    const fault = upstream.fault({ match: "/torch/", kind: "status500", times: 1 });
    const failing = await run(["--mirror", mirrorIndex, "--upstream", upstreamIndex, "--project", "torch"]);
    fault.remove();
    assert.equal(failing.code, 2);
    assert.match(failing.stdout, /upstream: .*\/torch\/ answered HTTP 500/);

    const malformed = mirror.fault({ match: "/torch/", kind: "malformedPage", times: 1 });
    const bad = await run(["--mirror", mirrorIndex, "--upstream", upstreamIndex, "--project", "torch"]);
    malformed.remove();
    assert.equal(bad.code, 2, bad.stdout);
    assert.match(bad.stdout, /mirror: malformed index page at /);
  });

  test("bad arguments are exit 2 with a message; --help documents the exit codes", async () => {
    const missing = await run(["--upstream", upstreamIndex, "--project", "torch"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--mirror URL is required/);
    const badSpec = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "-p",
      "torch",
      "--version",
      "=>2",
    ]);
    assert.equal(badSpec.code, 2);
    assert.match(badSpec.stderr, /not a PEP 440 version or specifier/);
    const badDuration = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "-p",
      "torch",
      "--wait",
      "--interval",
      "soon",
    ]);
    assert.equal(badDuration.code, 2);
    const emptyThen = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "-p",
      "torch",
      "--then",
    ]);
    assert.equal(emptyThen.code, 2);
    assert.match(emptyThen.stderr, /--then needs a command/);
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    assert.equal(help.stdout, `${checkHelp}\n`);
    assert.match(checkHelp, /Exit codes: 0 the mirror is current.*1 the mirror is behind.*2 error/s);
  });

  test("--wait --timeout gives up with exit 1 and what is still missing", async () => {
    const started = Date.now();
    const result = await run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "-p",
      "torch",
      "--wait",
      "--interval",
      "50ms",
      "--timeout",
      "300ms",
    ]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.ok(Date.now() - started >= 300);
    assert.match(result.stdout, /missing 2\.8\.0\+cu121/);
    assert.match(result.stdout, /timed out after 300 ms \(\d+ polls\)/);
    assert.match(result.stderr, /^waiting: torch lacks 2\.8\.0\+cu121; next poll in 50 ms$/m);
  });

  test("--wait succeeds once the release reaches the mirror, then runs --then with the version and exits with its code", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "fm-check-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "then.txt");
    const waiting = run([
      "--mirror",
      mirrorIndex,
      "--upstream",
      upstreamIndex,
      "--project",
      "torch",
      "--version",
      ">=2.8",
      "--wait",
      "--interval",
      "100ms",
      "--timeout",
      "30s",
      "--then",
      process.execPath,
      "-e",
      "require('node:fs').writeFileSync(process.argv[1], process.argv.slice(2).join(' ') + ' ' + process.env.FRESHMIRROR_VERSION); console.log('then ran'); process.exit(7)",
      out,
      "{project}",
      "{version}",
      "--json",
    ]);
    // Publish only once the check has polled the mirror and found it lagging (twice).
    const polled = mirror.requests.length;
    await until(
      () => mirror.requests.slice(polled).filter((r) => r.path.includes("/torch/")).length >= 2,
      "the check to poll the mirror's torch page twice",
    );
    await mirror.publishAll(NEW_PLATFORMS.map((p) => ({ ...NEW_TORCH, ...p })));
    const result = await waiting;
    assert.equal(result.code, 7, "exits with --then's code");
    assert.equal(
      readFileSync(out, "utf8"),
      "torch 2.8.0+cu121 --json 2.8.0+cu121",
      "argv after --then is passed as is",
    );
    assert.match(result.stdout, /then ran/);
    assert.match(result.stderr, /^waiting: torch lacks 2\.8\.0\+cu121/m);
    assert.match(
      result.stdout,
      /^torch: current: 1 version, 2 files matching >=2\.8, newest 2\.8\.0\+cu121$/m,
    );
    assert.match(result.stdout, /the mirror caught up after .* \(\d+ polls\)/);

    const now = await run(["--mirror", mirrorIndex, "--upstream", upstreamIndex, "-p", "torch", "--json"]);
    assert.equal(now.code, 0);
    assert.equal((JSON.parse(now.stdout) as CheckReport).status, "current");
  });
});
