// The status page, a mirror's page and a help page in real headless Chromium, served by the real
// `freshmirror serve` after real `freshmirror sync` runs against the fixture upstream.
// Screenshots are kept in test-artifacts/ (gitignored) for a person to look at; with
// FRESHMIRROR_SCREENSHOTS=1 the README's are written to docs/screenshots/ too.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { formatPageTime } from "../../src/http/time-format.js";
import { StateStore } from "../../src/store/state-store.js";
import { type PypiUpstream, publishTorchLike, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { repoRoot } from "../helpers/repo-root.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = process.env.FRESHMIRROR_SCREENSHOTS === "1";
const PUBLIC_URL = "http://mirror.example.edu";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Adds a finished run to the history, as a sync would have recorded it. */
async function recordRun(
  state: StateStore,
  mirror: string,
  startedAt: number,
  durationMs: number,
  outcome: "success" | "failed",
): Promise<void> {
  const id = await state.runs.start(mirror, "sync", null, startedAt, null);
  await state.runs.finish(
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
      await recordRun(
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
      await recordRun(state, name, now - age, 30_000, "success");
      await state.mirrors.update(name, {
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

  /** A screenshot in test-artifacts/, and in docs/screenshots/ as `docs` when asked for. */
  async function shot(page: Page, name: string, docs?: string) {
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
    if (SCREENSHOTS && docs !== undefined) {
      const dir = join(repoRoot(), "docs", "screenshots");
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: join(dir, `${docs}.png`), fullPage: true });
    }
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
    await shot(page, "status-page", "status");
    await page.close();
  });

  test("/ refreshes its rows from the API, and not while the tab is hidden", async () => {
    const { page, requests, errors } = await open("/");
    const state = new StateStore(join(ws.dataDir, "state.sqlite"));
    try {
      await state.mirrors.update("pypi", { state: "failed", lastError: "simulated" });
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
      await state.mirrors.update("pypi", { state: "none", lastError: null });
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
    await shot(page, "mirror-page", "mirror-status");
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
    await shot(page, "help-page", "help");
    await page.close();
  });
  test("a mirror's landing page: its indexes, its projects with versions and sizes, the last sync, the help link", async () => {
    const { page, requests, errors } = await open("/pytorch/");
    assert.match((await page.textContent("h1")) ?? "", /pytorch\s+success/);
    const indexes = await page.$$eval("#indexes tbody tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")),
    );
    assert.deepEqual(
      indexes.map((r) => r[0]),
      ["http://mirror.example.edu/pytorch/whl/cu121", "http://mirror.example.edu/pytorch/whl/cpu"],
    );
    for (const row of indexes) {
      assert.equal(row[1], "3", "three projects in each index");
      assert.match(row[4] ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d UTC (just now|\d+ (s|min) ago)$/);
    }
    const projects = await page.$$eval("#projects tbody tr", (trs) =>
      trs.map((tr) => [
        tr.getAttribute("data-project"),
        ...[...tr.querySelectorAll("td")].map((td) => td.textContent?.trim()),
      ]),
    );
    assert.deepEqual(
      projects.map((p) => [p[0], p[2]]),
      [
        ["filelock", "3.13.1"],
        ["torch", "2.6.0"],
        ["typing-extensions", "4.15.0"],
      ],
      "every project with its latest version",
    );
    const torch = projects.find((p) => p[0] === "torch") ?? [];
    assert.equal(torch[2], "2.6.0", "torch's latest version (>=2.6, no pre-releases)");
    assert.equal(torch[4], "2", "2.6.0+cu121 and 2.6.0+cpu for cp312 linux_x86_64");
    assert.match(torch[5] ?? "", /^\d+(\.\d+)? (B|KiB|MiB)$/);
    assert.match((await page.textContent("#last-sync")) ?? "", /UTC (just now|\d+ (s|min) ago)/);
    assert.equal(await page.getAttribute('a[href="/help/pytorch"]', "href"), "/help/pytorch");
    await shot(page, "mirror-landing", "mirror");
    // The filter narrows the list, without JavaScript (a GET form).
    await page.fill('input[name="q"]', "typing");
    await Promise.all([page.waitForURL(/\?q=typing/), page.click("form.filter button")]);
    assert.deepEqual(
      await page.$$eval("#projects tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-project"))),
      ["typing-extensions"],
    );
    assertSelfContained(requests, errors);
    await page.close();
    // The proxy has no list: it says so.
    const proxy = await open("/pypi/");
    assert.match((await proxy.page.textContent("main")) ?? "", /fetched from upstream when a client asks/);
    await proxy.page.close();
    // pip's paths are unchanged beside the pages.
    const simple = await fetch(`${server.url}/pytorch/whl/cu121/torch/`, {
      headers: { accept: "text/html" },
    });
    assert.equal(simple.status, 200);
    assert.match(await simple.text(), /torch-2\.6\.0%2Bcu121-cp312-cp312-linux_x86_64\.whl/);
    assert.equal((await fetch(`${server.url}/pytorch/+project/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/pytorch/+project/..%2Fx`)).status, 404);
  });

  test("a project page a person can read: versions, files, variants, sizes, hashes, upload times", async () => {
    const { page, requests, errors } = await open("/pytorch/");
    await Promise.all([
      page.waitForURL(/\/pytorch\/\+project\/torch$/),
      page.click('a[href="/pytorch/+project/torch"]'),
    ]);
    assert.equal(await page.textContent("h1"), "torch");
    const files = await page.$$eval("table.files tbody tr", (trs) =>
      trs.map((tr) => {
        const cells = [...tr.querySelectorAll("td")];
        return {
          file: cells[0]?.querySelector("a")?.textContent,
          href: cells[0]?.querySelector("a")?.getAttribute("href"),
          variant: cells[1]?.textContent,
          index: cells[3]?.textContent,
          size: cells[4]?.textContent,
          sha: cells[5]?.querySelector("code")?.getAttribute("title"),
          uploaded: cells[6]?.textContent,
        };
      }),
    );
    assert.equal(files.length, 2);
    assert.deepEqual(
      files.map((f) => [f.variant, f.index]),
      [
        ["cpu", "whl/cpu"],
        ["cu121", "whl/cu121"],
      ],
    );
    for (const f of files) {
      assert.match(f.sha ?? "", /^[0-9a-f]{64}$/);
      assert.match(f.size ?? "", /^\d+(\.\d+)? (B|KiB|MiB)$/);
      assert.match(f.uploaded ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d UTC /);
      const res = await fetch(`${server.url}${f.href}`);
      assert.equal(res.status, 200, `${f.href} serves the file`);
      const { createHash } = await import("node:crypto");
      assert.equal(
        createHash("sha256")
          .update(Buffer.from(await res.arrayBuffer()))
          .digest("hex"),
        f.sha,
      );
    }
    assert.deepEqual(await page.$$eval("main h2", (hs) => hs.map((h) => h.id)), ["v-2.6.0"]);
    assertSelfContained(requests, errors);
    await shot(page, "project-page", "project");
    await page.close();
  });
});
