// Upstream goes down after a good sync: the lag must not stay a green "0 s". The real server,
// sync runner and watcher in this process, the fixture upstream stopped mid-test; the status
// page is read in real Chromium, the API and /metrics over HTTP.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { type RunningServer, startServer } from "../../src/http/server.js";
import { syncMirror } from "../../src/sync/run-lifecycle.js";
import { createScheduler } from "../../src/sync/scheduled-sync.js";
import type { Scheduler } from "../../src/sync/scheduler.js";
import { Watcher } from "../../src/sync/watcher.js";
import { type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";

const CHROMIUM = "/usr/bin/chromium";

interface MirrorJson {
  state: string;
  lag_seconds: number | null;
  lag_level: string | null;
  lag_unknown_since: string | null;
  upstream_up: boolean | null;
  upstream_checked_at: string | null;
  upstream_error: string | null;
  last_error: string | null;
  last_run: { log_url: string | null } | null;
}

describe("lag while upstream is down", () => {
  let upstream: PypiUpstream;
  let upstreamUrl: string;
  let dir: string;
  let app: App;
  let scheduler: Scheduler;
  let server: RunningServer;
  let watcher: Watcher;

  const mirror = async (name: string) =>
    (await (await fetch(`${server.url}/api/v1/mirrors/${name}`)).json()) as MirrorJson;

  before(async () => {
    upstream = await startPypiUpstream({ indexes: ["simple"] });
    upstreamUrl = upstream.url;
    await upstream.publishAll([
      { index: "simple", project: "helper", version: "0.1" },
      { index: "simple", project: "demo", version: "1.0" },
    ]);
    dir = mkdtempSync(join(tmpdir(), "fm-down-"));
    const common = {
      type: "pypi",
      upstream: upstream.url,
      indexes: ["simple"],
      projects: ["demo", "helper"],
      retries: 0,
      retry_backoff: "10ms",
      fail_timeout: "10m",
    };
    const config = parseConfigText(
      stringify({
        listen: "127.0.0.1:0",
        data_dir: join(dir, "data"),
        mirrors: {
          // A long watch interval: the test runs the watch cycles itself.
          watched: { ...common, watch: "1h", schedule: "6h" },
          // Opens the circuit after three failures: later errors must still name the root cause.
          nightly: { ...common, schedule: "6h", max_fails: 3 },
        },
      }),
      "upstream-down test",
    );
    app = await App.open(config);
    scheduler = createScheduler(app);
    server = await startServer(app, "127.0.0.1", 0, { scheduler, adminToken: undefined });
    watcher = new Watcher(app, app.lag, { requestSync: () => undefined });
  });

  after(async () => {
    await scheduler?.stop();
    await server?.close();
    await app?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("with upstream up, the lag is a figure and upstream_up is true", async () => {
    for (const name of ["watched", "nightly"]) {
      const report = await syncMirror(app, name);
      assert.equal(report.outcome, "success", report.error);
    }
    const cycle = await watcher.pollOnce("watched");
    assert.deepEqual(cycle.errors, []);
    const watched = await mirror("watched");
    assert.equal(watched.lag_seconds, 0);
    assert.equal(watched.lag_level, "ok");
    assert.equal(watched.upstream_up, true);
    assert.equal(watched.lag_unknown_since, null);
    assert.ok(watched.upstream_checked_at);
  });

  test("with upstream down, page, API and metrics say the lag is unknown, and errors lead with the root cause", async () => {
    await upstream.close();
    const before = Date.now();
    // The first requests may meet a kept-alive connection the upstream cut ("connection closed");
    // from then on every connection is refused.
    const cut =
      /^(connection refused \(ECONNREFUSED\)|connection closed by upstream \(UND_ERR_SOCKET\)) for /;
    const refused = (url: string) => new RegExp(`^connection refused \\(ECONNREFUSED\\) for ${url}`);
    const first = await watcher.pollOnce("watched");
    assert.ok(first.errors.length > 0, "the watch cycle failed");
    for (const error of first.errors) assert.match(error, cut);
    const second = await watcher.pollOnce("watched");
    assert.equal(second.errors.length, 2);
    for (const error of second.errors) assert.match(error, refused(`${upstreamUrl}/simple/`));
    // Three failed syncs: the third meets the open circuit, and still names the root cause.
    const errors: string[] = [];
    for (let i = 0; i < 3; i++) {
      const report = await syncMirror(app, "nightly");
      assert.equal(report.outcome, "failed");
      errors.push(report.error ?? "");
    }
    assert.match(errors[0] ?? "", cut);
    assert.match(errors[1] ?? "", refused(`${upstreamUrl}/simple/`));
    assert.match(errors[2] ?? "", refused(""));
    const last = await mirror("nightly");
    assert.match(last.last_error ?? "", /not retried until/, "the circuit was open for the last run");
    assert.match(last.last_error ?? "", refused(""));
    const log = await (await fetch(`${server.url}${last.last_run?.log_url}`)).text();
    assert.match(log, /failed: connection refused \(ECONNREFUSED\) for http:\/\/127\.0\.0\.1:\d+\/simple\//);

    for (const name of ["watched", "nightly"]) {
      const m = await mirror(name);
      assert.equal(m.lag_seconds, null, `${name}: no lag figure`);
      assert.equal(m.lag_level, "unknown");
      assert.equal(m.upstream_up, false);
      assert.ok(
        Date.parse(m.lag_unknown_since ?? "") >= before - 1000,
        `${name}: unknown since the first failure`,
      );
      assert.ok(Date.parse(m.upstream_checked_at ?? "") < before, `${name}: the last good look is kept`);
      assert.match(m.upstream_error ?? "", /^connection refused \(ECONNREFUSED\)/);
    }
    const list = (await (await fetch(`${server.url}/api/v1/mirrors`)).json()) as { mirrors: MirrorJson[] };
    assert.deepEqual(
      list.mirrors.map((m) => m.lag_level),
      ["unknown", "unknown"],
    );

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /^freshmirror_mirror_lag_seconds\{/m, "no lag sample nobody checked");
    assert.match(metrics, /^freshmirror_mirror_upstream_up\{mirror="watched"\} 0$/m);
    assert.match(metrics, /^freshmirror_mirror_upstream_up\{mirror="nightly"\} 0$/m);
    assert.match(metrics, /^freshmirror_mirror_upstream_checked_timestamp_seconds\{mirror="watched"\} \d+/m);
  });

  test("the status page shows the lag as unknown in a warning colour, not a green 0 s", {
    skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`,
  }, async () => {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
      const page = await browser.newPage();
      for (const path of ["/", "/status/watched"]) {
        const response = await page.goto(`${server.url}${path}`);
        assert.equal(response?.status(), 200);
        const selector = path === "/" ? 'tr[data-mirror="watched"] .c-lag .lag' : "dd .lag";
        const text = (await page.textContent(selector)) ?? "";
        assert.match(text, /^unknown \(upstream unreachable since .+\)$/, `${path}: ${text}`);
        assert.doesNotMatch(text, /\b0 s\b/);
        const color = await page.evaluate(
          `getComputedStyle(document.querySelector(${JSON.stringify(selector)})).color`,
        );
        assert.equal(color, "rgb(179, 92, 0)", `${path}: the warning colour`);
      }
      // The row refreshed from the API keeps saying so.
      await page.goto(`${server.url}/`);
      await page.evaluate("window.freshmirror.refresh()");
      const refreshed = (await page.textContent('tr[data-mirror="nightly"] .c-lag .lag')) ?? "";
      assert.match(refreshed, /^unknown \(upstream unreachable since .+\)$/);
    } finally {
      await browser?.close();
    }
  });
});
