// Progress you can watch, against the real server and scheduler in this process and a fixture
// upstream that drips its wheels: mid-sync, `/api/v1/mirrors/<m>` shows the running sync's
// files and bytes done of their totals, a pull-through download in flight is listed, the SSE
// stream carries sync.progress, and the status page in real Chromium redraws the running sync's
// bar from that stream without a reload. With FRESHMIRROR_SCREENSHOTS=1 it writes
// docs/screenshots/status-syncing.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { type RunningServer, startServer } from "../../src/http/server.js";
import { createScheduler } from "../../src/sync/scheduled-sync.js";
import type { Scheduler } from "../../src/sync/scheduler.js";
import { type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { repoRoot } from "../helpers/repo-root.js";
import { until } from "../helpers/until.js";

const TOKEN = "live-progress-token-0123456789abcdef";
const CHROMIUM = "/usr/bin/chromium";
const KiB = 1024;

interface ProgressJson {
  run_id: number | null;
  phase: string;
  files_done: number;
  files_total: number;
  bytes_done: number;
  bytes_total: number;
  bytes_total_exact: boolean;
  rate_bytes_per_second: number;
  eta_seconds: number | null;
}

interface MirrorJson {
  state: string;
  progress: ProgressJson | null;
  downloads: { filename: string; origin: string; bytes_done: number; bytes_total: number | null }[];
}

export const SCREENSHOTS = process.env.FRESHMIRROR_SCREENSHOTS === "1";
export const screenshotDir = () => join(repoRoot(), "docs", "screenshots");

describe("live progress", () => {
  let upstream: PypiUpstream;
  let dir: string;
  let app: App;
  let scheduler: Scheduler;
  let server: RunningServer;
  let browser: Browser | undefined;

  before(async () => {
    upstream = await startPypiUpstream({ indexes: ["simple"] });
    for (const version of ["1.0", "1.1", "1.2", "1.3"]) {
      await upstream.publish({ index: "simple", project: "drip", version, payloadBytes: 96 * KiB });
    }
    await upstream.publish({ index: "simple", project: "slowfetch", version: "1.0", payloadBytes: 96 * KiB });
    dir = mkdtempSync(join(tmpdir(), "fm-live-"));
    const config = parseConfigText(
      stringify({
        data_dir: join(dir, "data"),
        site: { name: "Example Mirrors" },
        mirrors: {
          drip: {
            type: "pypi",
            upstream: upstream.url,
            indexes: ["simple"],
            projects: ["drip"],
            description: "wheels that drip in",
            schedule: "24h",
            concurrency: 2,
          },
          proxied: { type: "pypi", upstream: upstream.url, indexes: ["simple"], mode: "proxy" },
        },
      }),
      "live-progress test",
    );
    app = await App.open(config);
    scheduler = createScheduler(app);
    server = await startServer(app, "127.0.0.1", 0, { scheduler, adminToken: TOKEN });
    if (existsSync(CHROMIUM)) {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      });
    }
  });

  after(async () => {
    await browser?.close();
    await scheduler.stop();
    await server.close();
    await app.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const mirror = async (name: string) =>
    (await (await fetch(`${server.url}/api/v1/mirrors/${name}`)).json()) as MirrorJson;
  const startSync = async (name: string) => {
    const res = await fetch(`${server.url}/api/v1/mirrors/${name}/sync`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 202);
  };

  test("mid-sync, the API shows files and bytes done of their totals, and the SSE stream carries sync.progress", async (t) => {
    // 96 KiB at 48 KiB/s: two seconds a file, two at a time.
    const drip = upstream.fault({ kind: "slowBody", bytesPerSecond: 48 * KiB, match: "drip-" });
    t.after(() => drip.remove());
    let sse = "";
    const stream = httpGet(`${server.url}/api/v1/events?mirror=drip`, (res) => {
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        sse += chunk;
      });
    });
    t.after(() => stream.destroy());
    await until(async () => sse.includes(": freshmirror events"), "the SSE stream opened");
    await startSync("drip");
    const mid = await until(
      async () => {
        const m = await mirror("drip");
        const p = m.progress;
        return p?.phase === "download" && p.bytes_done > 0 && p.bytes_done < p.bytes_total ? m : undefined;
      },
      "the API shows the download under way",
      30_000,
    );
    const p = mid.progress as ProgressJson;
    assert.equal(mid.state, "syncing");
    assert.equal(p.files_total, 4);
    assert.ok(p.files_done < p.files_total);
    assert.ok(p.bytes_total >= 4 * 96 * KiB, `bytes_total ${p.bytes_total}: every file's size is known`);
    assert.equal(p.bytes_total_exact, true);
    assert.ok(p.rate_bytes_per_second > 0);
    assert.ok(p.eta_seconds !== null && p.eta_seconds >= 0);
    assert.ok(
      mid.downloads.some((d) => d.origin === "sync" && d.filename.startsWith("drip-")),
      "the sync's downloads are listed in flight",
    );
    const list = (await (await fetch(`${server.url}/api/v1/mirrors`)).json()) as {
      mirrors: (MirrorJson & { name: string })[];
    };
    assert.ok(list.mirrors.find((m) => m.name === "drip")?.progress, "the list carries it too");
    await scheduler.idle();
    const done = await mirror("drip");
    assert.equal(done.state, "success");
    assert.equal(done.progress, null, "no progress once the run is over");
    const events = [...sse.matchAll(/event: sync\.progress\ndata: (.*)\n/g)].map(
      (m) =>
        JSON.parse(m[1] as string) as { phase: string; bytesDone: number; bytesTotal: number; done: boolean },
    );
    assert.ok(events.length >= 3, `several progress events (${events.length})`);
    assert.ok(events.length < 60, `throttled: ${events.length} events for a few seconds' sync`);
    assert.ok(events.some((e) => e.phase === "download" && e.bytesDone < e.bytesTotal && e.bytesTotal > 0));
    assert.equal(events.at(-1)?.done, true);
    assert.doesNotMatch(sse, /id: \d+\nevent: sync\.progress/, "progress events carry no id");
    assert.ok(sse.indexOf("event: sync.succeeded") > sse.lastIndexOf("event: sync.progress"));
  });

  test("a pull-through download in flight is listed under its mirror", async (t) => {
    const slow = upstream.fault({ kind: "slowBody", bytesPerSecond: 32 * KiB, match: "slowfetch-" });
    t.after(() => slow.remove());
    const page = await (
      await fetch(`${server.url}/proxied/simple/slowfetch/`, { headers: { accept: "text/html" } })
    ).text();
    const href = /href="([^"#]+\.whl)/.exec(page)?.[1];
    assert.ok(href, page);
    const url = new URL(href, `${server.url}/proxied/simple/slowfetch/`).toString();
    const body = fetch(url).then((r) => r.arrayBuffer());
    const m = await until(
      async () => {
        const got = await mirror("proxied");
        return got.downloads.some((d) => d.origin === "fetch" && d.bytes_done > 0) ? got : undefined;
      },
      "the on-demand download is listed",
      20_000,
    );
    const d = m.downloads.find((x) => x.origin === "fetch");
    assert.match(d?.filename ?? "", /^slowfetch-1\.0-/);
    assert.ok((d?.bytes_total ?? 0) > (d?.bytes_done ?? 0));
    assert.equal((await body).byteLength, d?.bytes_total);
    await until(async () => ((await mirror("proxied")).downloads.length === 0 ? true : undefined), "done");
  });

  test("the status page redraws a running sync's progress from the SSE stream, without a reload", async (t) => {
    if (!browser) return t.skip(`${CHROMIUM} is not installed`);
    await upstream.publish({ index: "simple", project: "drip", version: "1.4", payloadBytes: 96 * KiB });
    await upstream.publish({ index: "simple", project: "drip", version: "1.5", payloadBytes: 96 * KiB });
    const drip = upstream.fault({ kind: "slowBody", bytesPerSecond: 12 * KiB, match: "drip-" });
    t.after(() => drip.remove());
    const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${server.url}/`);
    await page.waitForFunction("window.freshmirror.connected()");
    await page.evaluate("window.__sameDocument = true");
    assert.equal(await page.textContent('tr[data-mirror="drip"] .badge'), "success");
    await startSync("drip");
    await page.waitForSelector('tr[data-mirror="drip"] .progress progress', { timeout: 30_000 });
    await page.waitForFunction(
      `/\\d+\\/2 files · .* of .* · .*\\/s · ETA/.test(document.querySelector('tr[data-mirror="drip"] .p-text')?.textContent ?? "")`,
      undefined,
      { timeout: 30_000 },
    );
    assert.equal(await page.textContent('tr[data-mirror="drip"] .badge'), "syncing");
    const value = Number(await page.getAttribute('tr[data-mirror="drip"] progress', "value"));
    assert.ok(value >= 0 && value < 1, `the bar is part-way: ${value}`);
    if (SCREENSHOTS) {
      mkdirSync(screenshotDir(), { recursive: true });
      await page.screenshot({ path: join(screenshotDir(), "status-syncing.png") });
    }
    // The mirror's own page shows the bar too, redrawn from its events.
    const details = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    details.on("pageerror", (e) => errors.push(String(e)));
    await details.goto(`${server.url}/status/drip`);
    await details.waitForFunction(
      `/files · .* of .* · ETA/.test(document.querySelector("#live-progress .p-text")?.textContent ?? "")`,
      undefined,
      { timeout: 30_000 },
    );
    await details.close();
    await scheduler.idle();
    await page.waitForFunction(
      `document.querySelector('tr[data-mirror="drip"] .badge')?.textContent === "success"`,
      undefined,
      { timeout: 15_000 },
    );
    assert.equal(await page.locator('tr[data-mirror="drip"] .progress').count(), 0, "the bar is gone");
    assert.equal(await page.evaluate("window.__sameDocument"), true, "no reload");
    assert.match((await page.textContent("#live")) ?? "", /live/);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
