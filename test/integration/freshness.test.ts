// Freshness end to end, with real parts: the real `freshmirror serve` watches the fixture upstream
// every second; a new torch release published there becomes pip-installable from the mirror within
// seconds, a signed `release.new` webhook reaches a local receiver once, and a command hook runs
// once with the version. With nothing changing, the watcher costs one conditional request per page
// answered 304. Hooks that fail (receiver down, a command that hangs or exits non-zero) are
// recorded in `logs/hooks.log` and leave the sync alone. A stale upstream page (lower serial or
// TIMESTAMP, as from a lagging CDN node) is ignored by the watcher.
import assert from "node:assert/strict";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import type { ReleaseNewEvent } from "../../src/events/event-bus.js";
import type { DeliveryLogEntry } from "../../src/events/hook-runner.js";
import { Watcher } from "../../src/sync/watcher.js";
import {
  type LoggedRequest,
  type PublishResult,
  type PypiUpstream,
  publishTorchLike,
  startPypiUpstream,
} from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { runPip } from "../helpers/pip.js";

const SECRET = "webhook-test-secret";
const NEW_VERSION = "2.8.0";
const WATCH_INTERVAL_MS = 1000;
/** Watch interval + targeted sync of four small wheels + generous slack for a busy machine. */
const FRESHNESS_DEADLINE_MS = 15_000;

interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The HMAC-SHA256 of the raw body under SECRET matched `X-Freshmirror-Signature`. */
  signatureValid: boolean;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A port that was free a moment ago: nothing listens on it once this resolves. */
async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  return port;
}

/** A webhook receiver that checks each delivery's signature against the raw body it received. */
async function startReceiver(secret: string) {
  const received: ReceivedWebhook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
      const given = Buffer.from(String(req.headers["x-freshmirror-signature"] ?? ""));
      const signatureValid = given.length === expected.length && timingSafeEqual(given, expected);
      received.push({ headers: req.headers, body, signatureValid });
      res.writeHead(signatureValid ? 200 : 401, { "content-type": "text/plain" });
      res.end(signatureValid ? "ok\n" : "bad signature\n");
    });
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => close(server) };
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function readLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as T);
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("freshness: a release published upstream reaches the mirror, pip and the hooks within seconds", () => {
  let upstream: PypiUpstream;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let publicUrl: string;
  let commandOut: string;
  let hooksLog: string;
  let released: PublishResult[] = [];
  let publishedAt = 0;
  const watchedPages = ["whl/cu121", "whl/cpu"].flatMap((idx) =>
    ["torch", "filelock", "typing-extensions"].map((p) => `/${idx}/${p}/`),
  );
  /** Watched-page requests since request number `from` that upstream has answered. */
  const answeredSince = (from: number) =>
    upstream.requests.slice(from).filter((r) => watchedPages.includes(r.path) && r.status !== 0).length;

  before(async () => {
    upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    receiver = await startReceiver(SECRET);
    const downPort = await freePort();
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    const recorder = [
      'const { appendFileSync } = require("node:fs");',
      "appendFileSync(process.env.FM_TEST_OUT, JSON.stringify({",
      "  argv: process.argv.slice(1),",
      "  version: process.env.FRESHMIRROR_VERSION,",
      "  event: process.env.FRESHMIRROR_EVENT,",
      "  project: process.env.FRESHMIRROR_PROJECT,",
      '}) + "\\n");',
    ].join("\n");
    ws = createWorkspace({});
    commandOut = join(ws.dir, "command-hook.jsonl");
    hooksLog = join(ws.dataDir, "logs", "hooks.log");
    ws.writeConfig({
      listen: `127.0.0.1:${port}`,
      public_url: publicUrl,
      mirrors: {
        pytorch: {
          type: "pypi",
          upstream: upstream.url,
          indexes: ["whl/cu121", "whl/cpu"],
          projects: ["torch", "filelock", "typing-extensions"],
          versions: { torch: ">=2.5" },
          platforms: ["manylinux*_x86_64", "linux_x86_64"],
          python: ["cp311", "cp312"],
          schedule: "0 3 1 1 *",
          watch: "1s",
          retry_backoff: "10ms",
        },
      },
      hooks: [
        {
          name: "receiver",
          on: "release.new",
          mirror: "pytorch",
          project: "torch",
          webhook: { url: receiver.url, secret: SECRET },
        },
        {
          name: "record-version",
          on: "new_version",
          project: "torch",
          command: [process.execPath, "-e", recorder, "{version}"],
          env: { FM_TEST_OUT: commandOut },
          timeout: "30s",
        },
        {
          name: "receiver-down",
          on: "release.new",
          project: "torch",
          webhook: { url: `http://127.0.0.1:${downPort}/hook`, secret: SECRET, retries: 2, timeout: "2s" },
        },
        {
          name: "hangs",
          on: "release.new",
          project: "torch",
          command: [process.execPath, "-e", "setInterval(() => {}, 60_000)"],
          timeout: "1s",
        },
        {
          name: "exits-3",
          on: "release.new",
          project: "torch",
          command: [process.execPath, "-e", "console.error('cannot build'); process.exit(3)"],
          timeout: "30s",
        },
      ],
    });
    const sync = await ws.cli(["sync", "pytorch"]);
    assert.equal(sync.code, 0, `initial sync failed:\n${sync.stdout}\n${sync.stderr}`);
    server = await ws.serve();
    assert.equal(server.url, publicUrl, "the server listens where public_url says");
  });

  after(async () => {
    await ws?.cleanup();
    await receiver?.close();
    await upstream?.close();
  });

  test("the initial sync (a first import) fires no release hooks", () => {
    assert.equal(receiver.received.length, 0);
    assert.equal(existsSync(commandOut), false);
    assert.deepEqual(readLines<DeliveryLogEntry>(hooksLog), []);
  });

  test("with nothing changing, watch cycles make only conditional page requests, each answered 304", async () => {
    // Let the first cycle (seeded from the snapshot's validators) run, then watch two more: waits on
    // the cycles' requests reaching upstream and being answered, not on the clock.
    const start = upstream.requests.length;
    await waitFor("a first watch cycle", 10 * WATCH_INTERVAL_MS, () =>
      answeredSince(start) >= watchedPages.length ? true : undefined,
    );
    const from = upstream.requests.length;
    const to = await waitFor("two more watch cycles", 10 * WATCH_INTERVAL_MS, () =>
      upstream.requests.length - from >= 2 * watchedPages.length ? upstream.requests.length : undefined,
    );
    await waitFor("the requests of those cycles to be answered", 5000, () =>
      upstream.requests.slice(from, to).every((r) => r.status !== 0) ? true : undefined,
    );
    const window: LoggedRequest[] = upstream.requests.slice(from, to);
    assert.ok(
      window.length >= 2 * watchedPages.length,
      `at least two cycles over ${watchedPages.length} pages; saw ${window.length} requests`,
    );
    for (const request of window) {
      assert.equal(request.method, "GET");
      assert.ok(watchedPages.includes(request.path), `only watched pages are requested: ${request.path}`);
      assert.ok(request.headers["if-none-match"], `${request.path} is conditional (If-None-Match)`);
      assert.equal(request.status, 304, `${request.path} answered 304`);
    }
    // Each page is polled once per cycle: counts per page differ by at most one (a cycle cut at an edge).
    const perPage = watchedPages.map((page) => window.filter((r) => r.path === page).length);
    assert.ok(Math.max(...perPage) - Math.min(...perPage) <= 1, `per page: ${perPage.join(", ")}`);
  });

  test(`a new torch release is pip-installable from the mirror within ${FRESHNESS_DEADLINE_MS / 1000} s`, async (t) => {
    const platforms = [
      { pythonTag: "cp311", abiTag: "cp311", platformTag: "linux_x86_64" },
      { pythonTag: "cp312", abiTag: "cp312", platformTag: "linux_x86_64" },
    ];
    released = await upstream.publishAll(
      (["cu121", "cpu"] as const).flatMap((label) =>
        platforms.map((platform) => ({
          index: `whl/${label}`,
          project: "torch",
          version: `${NEW_VERSION}+${label}`,
          ...platform,
          requiresPython: ">=3.9.0",
          dependencies: ["filelock", "typing-extensions>=4.8.0"],
        })),
      ),
    );
    publishedAt = Date.now();
    const wanted = released.find(
      (r) => r.filename === `torch-${NEW_VERSION}+cu121-cp311-cp311-linux_x86_64.whl`,
    );
    assert.ok(wanted);

    const listed = await waitFor(
      "the mirror's torch page to list the new wheel",
      FRESHNESS_DEADLINE_MS,
      async () => {
        const res = await fetch(`${server.url}/pytorch/whl/cu121/torch/`, {
          headers: { accept: "application/vnd.pypi.simple.v1+json" },
        });
        if (res.status !== 200) return undefined;
        const page = (await res.json()) as { files: { filename: string; url: string }[] };
        return page.files.find((f) => f.filename === wanted.filename);
      },
    );
    const visibleAfterMs = Date.now() - publishedAt;
    const file = await fetch(new URL(listed.url, `${server.url}/pytorch/whl/cu121/torch/`));
    assert.equal(file.status, 200);
    assert.equal(sha256(Buffer.from(await file.arrayBuffer())), wanted.sha256);

    const target = mkdtempSync(join(tmpdir(), "fm-fresh-pip-"));
    try {
      const result = await runPip([
        "install",
        "--index-url",
        `${server.url}/pytorch/whl/cu121`,
        "--target",
        target,
        "--python-version",
        "3.11",
        "--only-binary=:all:",
        `torch==${NEW_VERSION}+cu121`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const init = readFileSync(join(target, "torch", "__init__.py"), "utf8");
      assert.match(init, /__version__ = "2\.8\.0\+cu121"/);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
    const installableAfterMs = Date.now() - publishedAt;
    t.diagnostic(`listed after ${visibleAfterMs} ms; pip install done after ${installableAfterMs} ms`);
    assert.ok(visibleAfterMs <= FRESHNESS_DEADLINE_MS, `listed after ${visibleAfterMs} ms`);
  });

  test("the release.new webhook arrives once, signed, with the version and its files' mirror URLs", async () => {
    assert.ok(publishedAt > 0, "the release was published");
    const first = await waitFor("the webhook", FRESHNESS_DEADLINE_MS, () => receiver.received[0]);
    assert.equal(first.signatureValid, true, "X-Freshmirror-Signature is the HMAC-SHA256 of the raw body");
    assert.equal(first.headers["x-freshmirror-event"], "release.new");
    assert.equal(first.headers["content-type"], "application/json");
    const event = JSON.parse(first.body.toString()) as ReleaseNewEvent;
    assert.equal(event.type, "release.new");
    assert.equal(event.mirror, "pytorch");
    assert.equal(event.project, "torch");
    assert.equal(event.version, NEW_VERSION);
    assert.equal(typeof event.runId, "number");
    assert.deepEqual(
      event.files.map((f) => f.filename).sort(),
      released.map((r) => r.filename).sort(),
      "every new file of the release, in both indexes, and nothing else",
    );
    for (const file of event.files) {
      const original = released.find((r) => r.filename === file.filename);
      assert.ok(original);
      assert.equal(file.sha256, original.sha256);
      assert.equal(file.size, original.size);
      assert.ok(file.url.startsWith(`${publicUrl}/pytorch/whl/`), `a URL on the mirror: ${file.url}`);
      const res = await fetch(file.url);
      assert.equal(res.status, 200, file.url);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), original.sha256);
    }
  });

  test("the command hook runs once, with the version substituted in argv and in FRESHMIRROR_VERSION", async () => {
    const runs = await waitFor("the command hook", FRESHNESS_DEADLINE_MS, () => {
      const lines = readLines<{ argv: string[]; version: string; event: string; project: string }>(
        commandOut,
      );
      return lines.length > 0 ? lines : undefined;
    });
    assert.deepEqual(runs, [
      { argv: [NEW_VERSION], version: NEW_VERSION, event: "release.new", project: "torch" },
    ]);
  });

  test("a receiver that is down is retried, then recorded as failed; a hung command is killed at its timeout; a failing one is recorded", async () => {
    const settled = (entries: DeliveryLogEntry[], hook: string) =>
      entries.some((e) => e.hook === hook && !e.retrying);
    const entries = await waitFor("the failing hooks' last attempts in hooks.log", 20_000, () => {
      const all = readLines<DeliveryLogEntry>(hooksLog);
      return ["receiver", "record-version", "receiver-down", "hangs", "exits-3"].every((h) => settled(all, h))
        ? all
        : undefined;
    });
    const of = (hook: string) => entries.filter((e) => e.hook === hook);

    assert.deepEqual(
      of("receiver").map((e) => [e.ok, e.status]),
      [[true, 200]],
    );
    assert.deepEqual(
      of("record-version").map((e) => [e.ok, e.exitCode]),
      [[true, 0]],
    );

    const down = of("receiver-down");
    assert.deepEqual(
      down.map((e) => [e.attempt, e.ok, e.retrying]),
      [
        [1, false, true],
        [2, false, true],
        [3, false, false],
      ],
      "the first attempt and two retries, all failed",
    );
    assert.ok(new Set(down.map((e) => e.delivery)).size === 1, "one delivery, three attempts");
    for (const entry of down) assert.match(entry.error ?? "", /ECONNREFUSED|connect/i);

    const [hung, ...moreHung] = of("hangs");
    assert.ok(hung);
    assert.deepEqual(moreHung, []);
    assert.equal(hung.ok, false);
    assert.equal(hung.timedOut, true);
    assert.equal(hung.signal, "SIGTERM");
    assert.ok(
      hung.durationMs >= 1000 && hung.durationMs < 5000,
      `killed at about 1 s: ${hung.durationMs} ms`,
    );

    const [failed, ...moreFailed] = of("exits-3");
    assert.ok(failed);
    assert.deepEqual(moreFailed, []);
    assert.equal(failed.ok, false);
    assert.equal(failed.exitCode, 3);

    // The sync that published the release succeeded regardless, and its run log tells of each hook.
    const event = JSON.parse((receiver.received[0] as ReceivedWebhook).body.toString()) as ReleaseNewEvent;
    const runLog = readFileSync(join(ws.dataDir, "logs", "pytorch", `${event.runId}.log`), "utf8");
    assert.match(runLog, /hook receiver-down \(webhook\) for release\.new: failed/);
    assert.match(runLog, /hook hangs \(command\) for release\.new: failed: killed after its timeout/);
    assert.match(runLog, /hook exits-3 \(command\) for release\.new: failed: exited with code 3/);
    assert.match(runLog, /\| cannot build/);
    const cpuPage = await (await fetch(`${server.url}/pytorch/whl/cpu/torch/`)).text();
    assert.match(cpuPage, new RegExp(`torch-${NEW_VERSION.replaceAll(".", "\\.")}(\\+|%2B)cpu-cp312`));
  });

  test("nothing fires twice: after more watch cycles, one webhook and one command run in all", async () => {
    // Two more whole watch cycles, each page answered (a change seen would answer 200 and sync).
    const mark = upstream.requests.length;
    await waitFor("two more watch cycles, answered", 10 * WATCH_INTERVAL_MS, () =>
      answeredSince(mark) >= 2 * watchedPages.length ? true : undefined,
    );
    assert.equal(receiver.received.length, 1);
    assert.equal(readLines(commandOut).length, 1);
    const quiet = upstream.requests.slice(-watchedPages.length);
    for (const request of quiet)
      assert.equal(request.status === 304 || request.status === 0, true, request.path);
  });
});

describe("watcher: a stale upstream page (a lagging CDN node) is ignored, never synced to", () => {
  let upstream: Server;
  let dir: string;
  let app: App;
  const hits = new Map<string, number>();
  const wheel = (name: string) => `<a href="/files/${name}#sha256=${"ab".repeat(32)}">${name}</a><br/>`;
  // Per project, the pages served in turn: serial 10, then 9 from a lagging node, then 10 again,
  // then 11. `q` carries only download.pytorch.org's TIMESTAMP trailer, no serial.
  const pages: Record<string, { serial?: number; body: string }[]> = {
    p: [
      { serial: 10, body: wheel("p-1.1-py3-none-any.whl") },
      { serial: 9, body: wheel("p-1.0-py3-none-any.whl") },
      { serial: 10, body: wheel("p-1.1-py3-none-any.whl") },
      { serial: 11, body: wheel("p-1.2-py3-none-any.whl") },
    ],
    q: [
      { body: `${wheel("q-1.1-py3-none-any.whl")}\n<!--TIMESTAMP 1700000100-->` },
      { body: `${wheel("q-1.0-py3-none-any.whl")}\n<!--TIMESTAMP 1700000050-->` },
      { body: `${wheel("q-1.1-py3-none-any.whl")}\n<!--TIMESTAMP 1700000100-->` },
      { body: `${wheel("q-1.2-py3-none-any.whl")}\n<!--TIMESTAMP 1700000200-->` },
    ],
  };

  before(async () => {
    upstream = createServer((req, res) => {
      const project = /^\/simple\/([a-z]+)\/$/.exec(req.url ?? "")?.[1] ?? "";
      const served = pages[project];
      if (served === undefined) {
        res.writeHead(404).end();
        return;
      }
      const n = hits.get(project) ?? 0;
      hits.set(project, n + 1);
      const page = served[Math.min(n, served.length - 1)] as { serial?: number; body: string };
      const html = `<!DOCTYPE html>\n<html><body>\n${page.body}\n</body></html>\n`;
      const etag = `"${sha256(Buffer.from(html)).slice(0, 16)}"`;
      const headers: Record<string, string> = { "content-type": "text/html", etag };
      if (page.serial !== undefined) headers["x-pypi-last-serial"] = String(page.serial);
      if (req.headers["if-none-match"] === etag) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, headers).end(html);
    });
    const port = await listen(upstream);
    dir = mkdtempSync(join(tmpdir(), "fm-stale-"));
    app = await App.open(
      parseConfigText(
        stringify({
          data_dir: join(dir, "data"),
          mirrors: {
            m: {
              type: "pypi",
              upstream: `http://127.0.0.1:${port}`,
              indexes: ["simple"],
              projects: ["p", "q"],
              watch: "1s",
              retry_backoff: "10ms",
            },
          },
        }),
        "test",
      ),
    );
  });

  after(async () => {
    await app?.close();
    await close(upstream);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a lower X-PyPI-Last-Serial or TIMESTAMP is reported in ignoredStale and requests no sync", async () => {
    const requested: string[] = [];
    const watcher = new Watcher(app, app.lag, {
      requestSync: (_mirror, project) => {
        requested.push(project);
      },
    });
    const byProject = (changes: { project: string }[]) => changes.map((c) => c.project).sort();

    const first = await watcher.pollOnce("m");
    assert.deepEqual(byProject(first.changed), ["p", "q"], "never seen before: a change");
    assert.deepEqual(requested.sort(), ["p", "q"]);

    const stale = await watcher.pollOnce("m");
    assert.deepEqual(byProject(stale.ignoredStale), ["p", "q"]);
    assert.deepEqual(stale.changed, []);
    assert.deepEqual(requested, ["p", "q"], "no sync toward the older page");

    // The newer state was kept: the current page again is not a change.
    const same = await watcher.pollOnce("m");
    assert.deepEqual(same.changed, []);
    assert.deepEqual(same.ignoredStale, []);
    assert.equal(same.notModified, 2, "conditional on the validators of the newer page: 304");

    const newer = await watcher.pollOnce("m");
    assert.deepEqual(byProject(newer.changed), ["p", "q"]);
    assert.deepEqual(requested.sort(), ["p", "p", "q", "q"]);
  });
});
