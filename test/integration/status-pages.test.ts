// The status page, a mirror's page and a help page in real headless Chromium, served by the real
// `freshmirror serve` after real `freshmirror sync` runs against the fixture upstream.
// Screenshots are kept in test-artifacts/ (gitignored) for a person to look at.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { formatPageTime } from "../../src/http/time-format.js";
import { StateStore } from "../../src/store/state-store.js";
import { type PypiUpstream, publishTorchLike, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { repoRoot } from "../helpers/repo-root.js";

const CHROMIUM = "/usr/bin/chromium";
const PUBLIC_URL = "http://mirror.example.edu";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Adds a finished run to the history, as a sync would have recorded it. */
function recordRun(
  state: StateStore,
  mirror: string,
  startedAt: number,
  durationMs: number,
  outcome: "success" | "failed",
): void {
  const id = state.startRun(mirror, "sync", null, startedAt, null);
  state.finishRun(
    id,
    {
      outcome,
      filesAdded: outcome === "success" ? 3 : 0,
      filesTotal: 12,
      bytesAdded: 4096,
      error: outcome === "failed" ? "upstream answered HTTP 503 for http://upstream/simple/x/" : null,
    },
    startedAt + durationMs,
  );
}

describe("status pages in Chromium", {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`,
}, () => {
  let upstream: PypiUpstream;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let browser: Browser;
  const artifacts = join(repoRoot(), "test-artifacts");

  before(async () => {
    upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    upstream.fault({ kind: "status500", match: "/simple/filelock/" });
    const simple = { type: "pypi", upstream: upstream.url, indexes: ["simple"] };
    ws = createWorkspace({
      public_url: PUBLIC_URL,
      site: { name: "Example Mirrors" },
      mirrors: {
        pytorch: {
          type: "pypi",
          description: "PyTorch wheels for CUDA 12.1 and CPU",
          upstream: upstream.url,
          indexes: ["whl/cu121", "whl/cpu"],
          projects: ["torch", "filelock", "typing-extensions"],
          versions: { torch: ">=2.6" },
          python: ["cp312"],
          platforms: ["linux_x86_64"],
          retry_backoff: "10ms",
        },
        broken: { ...simple, projects: ["filelock"], retries: 0, retry_backoff: "10ms", schedule: "6h" },
        stale: { ...simple, description: "last synced two days ago" },
        ancient: { ...simple, description: "last synced four days ago" },
        held: { ...simple, paused: true },
        pypi: { ...simple, mode: "proxy", description: "PyPI, fetched on demand" },
      },
    });
    // History the charts draw: 40 earlier runs of pytorch (some failed), and two mirrors whose
    // last success is old enough to warn and to be critical; then real syncs.
    mkdirSync(ws.dataDir, { recursive: true });
    const state = new StateStore(join(ws.dataDir, "state.sqlite"));
    const now = Date.now();
    for (let i = 40; i >= 1; i--) {
      recordRun(
        state,
        "pytorch",
        now - i * 6 * HOUR,
        (20 + (i % 7) * 9) * 1000,
        i % 9 === 0 ? "failed" : "success",
      );
    }
    for (const [name, age] of [
      ["stale", 2.2 * DAY],
      ["ancient", 4 * DAY],
    ] as const) {
      recordRun(state, name, now - age, 30_000, "success");
      state.updateMirror(name, {
        state: "success",
        lastSuccessAt: now - age + 30_000,
        lastAttemptAt: now - age,
        lastEndedAt: now - age + 30_000,
      });
    }
    state.close();
    const [good, bad] = await Promise.all([ws.cli(["sync", "pytorch"]), ws.cli(["sync", "broken"])]);
    assert.equal(good.code, 0, `sync pytorch:\n${good.stdout}\n${good.stderr}`);
    assert.equal(bad.code, 1, `sync broken should fail:\n${bad.stdout}\n${bad.stderr}`);
    server = await ws.serve();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    mkdirSync(artifacts, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await ws?.cleanup();
    await upstream?.close();
  });

  /** A page that records every request and script error, and fails on either going astray. */
  async function open(path: string, viewport = { width: 1280, height: 900 }) {
    const page = await browser.newPage({ viewport });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    const response = await page.goto(`${server.url}${path}`);
    assert.equal(response?.status(), 200, path);
    return { page, requests, errors };
  }

  function assertSelfContained(requests: readonly string[], errors: readonly string[]) {
    for (const url of requests)
      assert.ok(url.startsWith(server.url), `no asset from outside the server: ${url}`);
    assert.deepEqual(errors, [], "no script errors");
  }

  test("/ lists every mirror with the right state, lag colours, and local times", async () => {
    const { page, requests, errors } = await open("/");
    const rows = await page.$$eval("tbody tr[data-mirror]", (trs) =>
      trs.map((tr) => [
        tr.getAttribute("data-mirror"),
        tr.querySelector(".badge")?.textContent,
        tr.querySelector(".c-lag span")?.className,
      ]),
    );
    assert.deepEqual(rows, [
      ["pytorch", "success", "lag lag-ok"],
      ["broken", "failed", "muted"],
      ["stale", "success", "lag lag-warn"],
      ["ancient", "success", "lag lag-critical"],
      ["held", "paused", "muted"],
      ["pypi", "fetched on demand", "muted"],
    ]);
    const broken = await page.textContent('tr[data-mirror="broken"] .c-lag');
    assert.equal(broken?.trim(), "never synced");
    const ago = await page.textContent('tr[data-mirror="stale"] .c-success .ago');
    assert.equal(ago, "2 d ago", "last success as a relative time");
    // One time format, the same from the server and the script: "2026-11-25 22:59 UTC".
    const shown = await page.$eval('tr[data-mirror="pytorch"] .c-success time', (t) => [
      t.textContent,
      t.getAttribute("data-ts"),
    ]);
    assert.equal(shown[0], formatPageTime(Number(shown[1])));
    assert.match(shown[0] ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    assert.match((await page.textContent('tr[data-mirror="pytorch"] .c-next')) ?? "", /in \d+ (h|min)/);
    assertSelfContained(requests, errors);
    await page.screenshot({ path: join(artifacts, "status-page.png"), fullPage: true });
    await page.close();
  });

  test("/ refreshes its rows from the API, and not while the tab is hidden", async () => {
    const { page, requests, errors } = await open("/");
    const state = new StateStore(join(ws.dataDir, "state.sqlite"));
    try {
      state.updateMirror("pypi", { state: "failed", lastError: "simulated" });
      await page.evaluate("window.freshmirror.refresh()");
      assert.equal(await page.textContent('tr[data-mirror="pypi"] .badge'), "failed");
      const apiCalls = () => requests.filter((u) => u.endsWith("/api/v1/mirrors")).length;
      const before = apiCalls();
      await page.evaluate(`(() => {
        Object.defineProperty(document, "hidden", { value: true, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
        return window.freshmirror.refresh();
      })()`);
      assert.equal(apiCalls(), before, "a hidden tab makes no request");
    } finally {
      state.updateMirror("pypi", { state: "none", lastError: null });
      state.close();
    }
    assertSelfContained(requests, errors);
    await page.close();
  });

  test("/ reads on a phone: each mirror becomes a card, nothing scrolls sideways", async () => {
    const { page, requests, errors } = await open("/", { width: 390, height: 844 });
    const overflow = (await page.evaluate(
      "document.documentElement.scrollWidth - window.innerWidth",
    )) as number;
    assert.ok(overflow <= 0, `no horizontal scroll (overflow ${overflow}px)`);
    const display = await page.evaluate('getComputedStyle(document.querySelector("tbody tr")).display');
    assert.equal(display, "block");
    assertSelfContained(requests, errors);
    await page.screenshot({ path: join(artifacts, "status-page-phone.png"), fullPage: true });
    await page.close();
  });

  test("the mirror page draws the last 30 runs and the lag over time as SVG, with the run history", async () => {
    const { page, requests, errors } = await open("/status/pytorch");
    const charts = await page.$$eval("svg.chart", (svgs) =>
      svgs.map((svg) => ({
        label: svg.getAttribute("aria-label"),
        bars: svg.querySelectorAll("rect.bar").length,
        failed: svg.querySelectorAll("rect.bar-failed").length,
        lines: svg.querySelectorAll("path.lag-line").length,
        width: svg.getBoundingClientRect().width,
      })),
    );
    assert.equal(charts.length, 2);
    const [runs, lag] = charts;
    assert.equal(runs?.bars, 30, "30 bars: the 41 runs are capped at the last 30");
    assert.ok((runs?.failed ?? 0) > 0, "failed runs are drawn in their colour");
    assert.ok((runs?.width ?? 0) > 300, "the chart is rendered at a readable size");
    assert.equal(lag?.lines, 1);
    const heights = await page.$$eval("svg.chart rect.bar", (rects) =>
      rects.map((r) => r.getBoundingClientRect().height),
    );
    assert.ok(new Set(heights.map(Math.round)).size > 3, "bar heights follow the durations");
    assert.equal(await page.locator("#runs tbody tr").count(), 41);
    assert.match((await page.textContent("#runs tbody tr:first-child")) ?? "", /success/);
    assert.match(
      (await page.textContent("#runs tbody tr:first-child")) ?? "",
      /just now|\d+ s ago/,
      "newest first",
    );
    // The real sync's run has a log (the recorded history has none).
    const log = await page.getAttribute('#runs tbody tr:first-child a[href$="/log"]', "href");
    assert.match(log ?? "", /^\/api\/v1\/mirrors\/pytorch\/runs\/\d+\/log$/);
    const logText = await (await fetch(`${server.url}${log}`)).text();
    assert.match(logText, /sync of pytorch/);
    assertSelfContained(requests, errors);
    await page.screenshot({ path: join(artifacts, "mirror-page.png"), fullPage: true });
    await page.close();
  });

  test("the help page's commands are built from public_url, exactly", async () => {
    const { page, requests, errors } = await open("/help/pytorch");
    const text = async (selector: string) => (await page.textContent(`${selector} code`))?.trim();
    assert.equal(
      await text("#pip-install"),
      "pip install --index-url http://mirror.example.edu/pytorch/whl/cu121 --trusted-host mirror.example.edu torch",
    );
    assert.equal(
      await text("#pip-config"),
      "pip config set global.index-url http://mirror.example.edu/pytorch/whl/cu121\npip config set global.trusted-host mirror.example.edu",
    );
    assert.equal(
      await text("#pip-conf"),
      "[global]\nindex-url = http://mirror.example.edu/pytorch/whl/cu121\ntrusted-host = mirror.example.edu",
    );
    assert.match(
      (await text("#uv-toml")) ?? "",
      /\[\[tool\.uv\.index\]\]\nname = "pytorch"\nurl = "http:\/\/mirror\.example\.edu\/pytorch\/whl\/cu121"\ndefault = true/,
    );
    assert.match(
      (await text("#uv-env")) ?? "",
      /^export UV_DEFAULT_INDEX=http:\/\/mirror\.example\.edu\/pytorch\/whl\/cu121$/m,
    );
    assert.match(
      (await text("#poetry")) ?? "",
      /^poetry source add --priority=primary pytorch http:\/\/mirror\.example\.edu\/pytorch\/whl\/cu121$/m,
    );
    const variants = await page.$$eval("#variants tbody tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 2).map((td) => td.textContent)),
    );
    assert.deepEqual(variants, [
      ["CUDA 12.1", "http://mirror.example.edu/pytorch/whl/cu121"],
      ["CPU only", "http://mirror.example.edu/pytorch/whl/cpu"],
    ]);
    assert.match(
      (await text("#daemon-json")) ?? "",
      /"registry-mirrors": \[\s*"http:\/\/mirror\.example\.edu"\s*\]/,
    );
    assert.match((await text("#hosts-toml")) ?? "", /\[host\."http:\/\/mirror\.example\.edu"\]/);
    assert.match((await page.textContent("#oci-note")) ?? "", /OCI mirroring is not yet available/);
    assert.equal(
      await text("#verify"),
      `python -c "import torch; print(torch.__version__, torch.cuda.is_available())"`,
    );
    assertSelfContained(requests, errors);
    await page.screenshot({ path: join(artifacts, "help-page.png"), fullPage: true });
    await page.close();
  });
});
