// Upstream credentials: an upstream that requires Basic auth, given to freshmirror as
// `user:password@` in the URL or through username_env/password_env. Syncs and pull-through
// authenticate, and the password shows up nowhere: not on the status pages, the API, /jobs,
// /mirrorz.json, /metrics, error bodies, run logs, serve's output or `config check`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { filesUnder } from "../helpers/mirror-harness.js";

const USER = "mirror-user";
const PASSWORD = "s3cret-pass";
const USER_VAR = "FM_TEST_UPSTREAM_USER";
const PASSWORD_VAR = "FM_TEST_UPSTREAM_PASSWORD";

/** Every form the secret could leak in: plain, percent-encoded userinfo, and inside a Basic header. */
const SECRET_FORMS = [
  PASSWORD,
  `${USER}:`,
  Buffer.from(`${USER}:${PASSWORD}`).toString("base64"),
  Buffer.from(`${USER}:${PASSWORD}`).toString("base64").slice(8, 24),
];

function assertNoSecret(where: string, text: string): void {
  for (const form of SECRET_FORMS)
    assert.ok(!text.includes(form), `${where} shows the credentials (${form})`);
}

describe("upstream credentials", () => {
  let upstream: PypiUpstream;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let withUserinfo: string;

  before(async () => {
    upstream = await startPypiUpstream({
      indexes: ["simple"],
      basicAuth: { username: USER, password: PASSWORD },
    });
    await upstream.publishAll([
      { index: "simple", project: "helper", version: "0.1" },
      { index: "simple", project: "demo", version: "1.0", dependencies: ["helper"] },
    ]);
    withUserinfo = upstream.url.replace("http://", `http://${USER}:${PASSWORD}@`);
    process.env[USER_VAR] = USER;
    process.env[PASSWORD_VAR] = PASSWORD;
    const common = { type: "pypi", indexes: ["simple"], retries: 0, retry_backoff: "10ms" };
    ws = createWorkspace({
      mirrors: {
        inurl: { ...common, upstream: withUserinfo, projects: ["demo", "helper"] },
        byenv: {
          ...common,
          upstream: upstream.url,
          username_env: USER_VAR,
          password_env: PASSWORD_VAR,
          projects: ["demo", "helper"],
        },
        anon: { ...common, upstream: upstream.url, projects: ["demo"] },
        // Fails on an injected 500: its error names the upstream URL.
        flaky: { ...common, upstream: withUserinfo, projects: ["demo"] },
        proxied: { ...common, upstream: withUserinfo, mode: "proxy" },
      },
    });
  });

  after(async () => {
    delete process.env[USER_VAR];
    delete process.env[PASSWORD_VAR];
    await ws?.cleanup();
    await upstream?.close();
  });

  test("syncs authenticate with credentials from the URL or from username_env/password_env", async () => {
    for (const mirror of ["inurl", "byenv"]) {
      const sync = await ws.cli(["sync", mirror]);
      assert.equal(sync.code, 0, `sync ${mirror}:\n${sync.stdout}\n${sync.stderr}`);
      assertNoSecret(`sync ${mirror} output`, sync.stdout + sync.stderr);
    }
    const anon = await ws.cli(["sync", "anon"]);
    assert.equal(anon.code, 1, "the upstream rejects a sync without credentials");
    assert.match(anon.stdout + anon.stderr, /HTTP 401/);
    assert.ok(
      upstream.requests.some((r) => r.status === 401) && upstream.requests.some((r) => r.status === 200),
      "the fixture told authenticated requests from the others",
    );
    upstream.fault({ kind: "status500", match: "/simple/demo/", times: 1 });
    const flaky = await ws.cli(["sync", "flaky"]);
    assert.equal(flaky.code, 1);
    assert.match(flaky.stdout + flaky.stderr, /HTTP 500 for http:\/\/127\.0\.0\.1:\d+\/simple\/demo\//);
    assertNoSecret("sync flaky output", flaky.stdout + flaky.stderr);
  });

  test("config check prints *** for the password; a missing variable is an error naming it, not a value", async () => {
    const check = await ws.cli(["config", "check"]);
    assert.equal(check.code, 0, check.stderr);
    assertNoSecret("config check", check.stdout + check.stderr);
    // YAML with the keys an operator writes; --json for the resolved object.
    assert.match(check.stdout, /password: "\*\*\*"/);
    assert.match(check.stdout, /upstream: http:\/\/127\.0\.0\.1:\d+\n/);
    const json = await ws.cli(["config", "check", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assertNoSecret("config check --json", json.stdout + json.stderr);
    assert.match(json.stdout, /"password": "\*\*\*"/);
    assert.match(json.stdout, /"upstream": "http:\/\/127\.0\.0\.1:\d+"/);
    const missing = await ws.cli(["config", "check"], { env: { [PASSWORD_VAR]: "" } });
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      new RegExp(`mirrors\\.byenv\\.password_env: environment variable ${PASSWORD_VAR} is not set`),
    );
  });

  test("no page, API answer, metric, error body or run log shows the credentials", async () => {
    server = await ws.serve();
    const seen: string[] = [];
    const get = async (path: string, expected = 200, accept = "*/*") => {
      const res = await fetch(`${server.url}${path}`, { headers: { accept } });
      const body = await res.text();
      assert.equal(res.status, expected, `${path}: ${body}`);
      assertNoSecret(path, body);
      seen.push(path);
      return body;
    };
    // Pull-through with credentials from the URL: a page and a file fetched on demand.
    const page = await get("/proxied/simple/demo/", 200, "application/vnd.pypi.simple.v1+json");
    const file = (JSON.parse(page) as { files: { url: string }[] }).files[0];
    assert.ok(file);
    await get(new URL(file.url, `${server.url}/proxied/simple/demo/`).pathname);
    const status = await get("/");
    assert.match(status, /127\.0\.0\.1:\d+/, "the upstream is shown, without its userinfo");
    for (const m of ["inurl", "byenv", "flaky", "proxied"]) {
      await get(`/status/${m}`);
      await get(`/help/${m}`);
      await get(`/api/v1/mirrors/${m}`);
      const runs = JSON.parse(await get(`/api/v1/mirrors/${m}/runs`)) as {
        runs: { log_url: string | null }[];
      };
      for (const run of runs.runs) if (run.log_url) await get(run.log_url);
    }
    const flaky = JSON.parse(await get("/api/v1/mirrors/flaky")) as { last_error: string };
    assert.match(flaky.last_error, /HTTP 500 for http:\/\/127\.0\.0\.1:\d+\/simple\/demo\//);
    await get("/api/v1/mirrors");
    await get("/jobs");
    await get("/mirrorz.json");
    await get("/metrics");
    // Error bodies: a project upstream does not have, and an upstream failure (502).
    await get("/proxied/simple/no-such-project/", 404);
    await get("/nope/", 404);
    upstream.fault({ kind: "status500", match: "/simple/helper/" });
    const bad = await get("/proxied/simple/helper/", 502, "application/vnd.pypi.simple.v1+json");
    assert.match(bad, /HTTP 500/);
    upstream.clearFaults();
    assertNoSecret("serve output", server.output());
    for (const rel of filesUnder(join(ws.dataDir, "logs"))) {
      assertNoSecret(`logs/${rel}`, readFileSync(join(ws.dataDir, "logs", rel), "utf8"));
    }
    assert.ok(seen.length > 20);
  });
});
