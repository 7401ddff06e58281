// The JSON API, its bearer-token admin calls, /jobs (tunasync), /mirrorz.json and /metrics,
// against the real server and scheduler in this process, syncing from the fixture upstream.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { type RunningServer, startServer } from "../../src/http/server.js";
import { formatLocalTime } from "../../src/http/time-format.js";
import { GO_ZERO_TEXT, GO_ZERO_TS } from "../../src/http/tunasync-jobs.js";
import { createScheduler } from "../../src/sync/scheduled-sync.js";
import type { Scheduler } from "../../src/sync/scheduler.js";
import { type PypiUpstream, publishTorchLike, startPypiUpstream } from "../fixtures/pypi-upstream.js";

const TOKEN = "test-admin-token-0123456789abcdef";
const PUBLIC_URL = "http://mirror.example.edu";

interface ApiError {
  error: { code: string; message: string; hint?: string };
}

describe("status API, admin calls, /jobs, /mirrorz.json, /metrics", () => {
  let upstream: PypiUpstream;
  let dir: string;
  let app: App;
  let scheduler: Scheduler;
  let server: RunningServer;
  let noToken: RunningServer;

  const get = (path: string, base = server.url) => fetch(`${base}${path}`);
  const post = (path: string, token?: string, body?: string, base = server.url) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body,
    });
  const mirrorJson = async (name: string) =>
    (await (await get(`/api/v1/mirrors/${name}`)).json()) as Record<string, unknown>;

  before(async () => {
    upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    dir = mkdtempSync(join(tmpdir(), "fm-api-"));
    const quick = { retries: 0, retry_backoff: "10ms" };
    const config = parseConfigText(
      stringify({
        listen: "127.0.0.1:0",
        public_url: PUBLIC_URL,
        data_dir: join(dir, "data"),
        site: { name: "Example Mirrors", abbr: "EXAMPLE" },
        mirrors: {
          pytorch: {
            type: "pypi",
            description: "PyTorch wheels",
            upstream: upstream.url,
            indexes: ["whl/cu121", "whl/cpu"],
            projects: ["torch", "filelock", "typing-extensions"],
            versions: { torch: ">=2.6" },
            python: ["cp312"],
            platforms: ["linux_x86_64"],
            ...quick,
          },
          broken: {
            type: "pypi",
            upstream: upstream.url,
            indexes: ["simple"],
            projects: ["filelock"],
            schedule: "6h",
            max_fails: 100,
            ...quick,
          },
          fresh: { type: "pypi", upstream: upstream.url, indexes: ["simple"], schedule: "0 3 * * *" },
          held: { type: "pypi", upstream: upstream.url, indexes: ["simple"], paused: true },
          off: { type: "pypi", upstream: upstream.url, indexes: ["simple"], disabled: true },
          pypi: { type: "pypi", upstream: upstream.url, indexes: ["simple"], mode: "proxy" },
        },
      }),
      "status-api test",
    );
    app = await App.open(config);
    scheduler = createScheduler(app);
    await scheduler.start();
    server = await startServer(app, "127.0.0.1", 0, { scheduler, adminToken: TOKEN });
    noToken = await startServer(app, "127.0.0.1", 0, { scheduler, adminToken: undefined });
    upstream.fault({ kind: "status500", match: "/simple/filelock/" });
  });

  after(async () => {
    await scheduler.stop();
    await server.close();
    await noToken.close();
    await app.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("admin calls with no or a wrong token answer 401, with none configured 403, and change nothing", async () => {
    for (const token of [undefined, "wrong", `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const res = await post("/api/v1/mirrors/pytorch/sync", token);
      assert.equal(res.status, 401, `token ${token}`);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="freshmirror"');
      assert.equal(res.headers.get("content-type"), "application/json");
      const body = (await res.json()) as ApiError;
      assert.equal(body.error.code, "FM_ERR_API_AUTH");
      assert.ok(!JSON.stringify(body).includes(TOKEN), "the token is never echoed");
    }
    assert.equal((await post("/api/v1/mirrors/pytorch/pause", "wrong")).status, 401);
    assert.equal((await post("/api/v1/mirrors/pytorch/resume")).status, 401);
    const disabled = await post("/api/v1/mirrors/pytorch/sync", TOKEN, undefined, noToken.url);
    assert.equal(disabled.status, 403);
    const why = (await disabled.json()) as ApiError;
    assert.equal(why.error.code, "FM_ERR_API_AUTH");
    assert.match(why.error.message, /FRESHMIRROR_ADMIN_TOKEN is not set/);
    assert.match(why.error.hint ?? "", /FRESHMIRROR_ADMIN_TOKEN.*Authorization: Bearer/);
    assert.equal(await app.state.runs.count("pytorch"), 0, "no sync ran");
    const m = await mirrorJson("pytorch");
    assert.equal(m.state, "none");
    assert.equal(m.paused_at, null);
    assert.equal((await app.state.mirrors.get("pytorch")).paused, false);
  });

  test("an unknown mirror or API path is a 404 with a JSON error; a wrong method a 405", async () => {
    for (const [method, path] of [
      ["GET", "/api/v1/mirrors/nope"],
      ["GET", "/api/v1/mirrors/nope/runs"],
      ["POST", "/api/v1/mirrors/nope/sync"],
    ] as const) {
      const res = method === "GET" ? await get(path) : await post(path, TOKEN, undefined, server.url);
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get("content-type"), "application/json");
      const body = (await res.json()) as ApiError;
      assert.equal(body.error.code, "FM_ERR_MIRROR_UNKNOWN");
      assert.match(body.error.message, /no mirror named "nope" \(configured: pytorch, broken/);
    }
    const path = await get("/api/v1/things");
    assert.equal(path.status, 404);
    assert.equal(((await path.json()) as ApiError).error.code, "FM_ERR_HTTP_NOT_FOUND");
    const run = await get("/api/v1/mirrors/pytorch/runs/999999");
    assert.equal(run.status, 404);
    const method = await get("/api/v1/mirrors/pytorch/sync");
    assert.equal(method.status, 405);
    assert.equal(method.headers.get("allow"), "POST");
    assert.equal(((await method.json()) as ApiError).error.code, "FM_ERR_HTTP_METHOD_NOT_ALLOWED");
    assert.equal((await post("/api/v1/mirrors", TOKEN)).status, 405);
  });

  test("POST sync with the token runs a verified sync; a second one while it runs is refused", async () => {
    const slow = upstream.fault({ kind: "slowBody", bytesPerSecond: 4000, match: "torch-2.6.0+cu121" });
    const res = await post("/api/v1/mirrors/pytorch/sync", TOKEN);
    assert.equal(res.status, 202);
    const queued = (await res.json()) as Record<string, unknown>;
    assert.equal(queued.started, true);
    assert.equal(queued.mirror, "pytorch");
    assert.equal((await mirrorJson("pytorch")).state, "syncing");
    const again = await post("/api/v1/mirrors/pytorch/sync", TOKEN);
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as ApiError).error.code, "FM_ERR_SYNC_REFUSED");
    await scheduler.idle();
    slow.remove();
    const m = await mirrorJson("pytorch");
    assert.equal(m.state, "success");
    assert.equal(typeof m.last_success_at, "string");
    assert.ok((m.file_count as number) >= 4, `files published: ${m.file_count}`);
    assert.ok((m.size_bytes as number) > 0);
    assert.equal((m.last_run as { outcome: string }).outcome, "success");
    assert.equal(m.last_error, null);
    assert.equal(typeof m.lag_seconds, "number");
    assert.equal(m.lag_level, "ok");
    assert.equal(m.schedule, "0 2 * * * (local time)");
    assert.equal(typeof m.next_run_at, "string", "the scheduler's next run shows");
    const runs = (await (await get("/api/v1/mirrors/pytorch/runs")).json()) as {
      runs: { id: number; outcome: string; log_url: string }[];
    };
    assert.equal(runs.runs.length, 1);
    const log = await get(runs.runs[0]?.log_url ?? "");
    assert.equal(log.status, 200);
    assert.equal(log.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(await log.text(), /sync of pytorch from .*\n(.*\n)*.*success: \+\d+ files/);
  });

  test("a failed sync leaves the mirror failed with its error", async () => {
    assert.equal((await post("/api/v1/mirrors/broken/sync", TOKEN)).status, 202);
    await scheduler.idle();
    const m = await mirrorJson("broken");
    assert.equal(m.state, "failed");
    assert.match(String(m.last_error), /500/);
    assert.equal(m.last_success_at, null);
    assert.equal(m.lag_seconds, null);
  });

  test("GET /api/v1/events streams sync events as Server-Sent Events, replaying from Last-Event-ID", async () => {
    const { get: httpGet } = await import("node:http");
    // `subscribed` resolves on the stream's opening comment, written in the tick the server
    // subscribes to the event bus: from then on no event can be missed.
    let subscribed: Promise<void> = Promise.resolve();
    const collect = (headers: Record<string, string>, until: (text: string) => boolean) =>
      new Promise<{ text: string; contentType: string | undefined }>((resolve, reject) => {
        let opened: () => void = () => undefined;
        subscribed = new Promise<void>((r) => {
          opened = r;
        });
        const req = httpGet(`${server.url}/api/v1/events`, { headers }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
            if (text.includes(": freshmirror events\n")) opened();
            if (until(text)) {
              req.destroy();
              resolve({ text, contentType: res.headers["content-type"] });
            }
          });
        });
        req.on("error", (error) => {
          if ((error as NodeJS.ErrnoException).code !== "ECONNRESET") reject(error);
        });
        setTimeout(() => reject(new Error("no events within 15 s")), 15_000).unref();
      });
    const live = collect({}, (text) => text.includes("event: sync.failed"));
    await subscribed;
    assert.equal((await post("/api/v1/mirrors/broken/sync", TOKEN)).status, 202);
    const { text, contentType } = await live;
    assert.match(contentType ?? "", /^text\/event-stream/);
    assert.match(text, /event: sync\.started\n/);
    const started = /id: (\d+)\nevent: sync\.started\ndata: (.*)\n/.exec(text);
    assert.ok(started, text);
    assert.equal(JSON.parse(started[2] as string).mirror, "broken");
    await scheduler.idle();
    // A client that saw sync.started reconnects and gets what came after it.
    const replay = await collect({ "last-event-id": started[1] as string }, (t) =>
      t.includes("event: sync.failed"),
    );
    assert.doesNotMatch(replay.text, new RegExp(`id: ${started[1]}\\n`));
    assert.match(replay.text, /event: sync\.failed\n/);
  });

  test("runs are paged newest first, and one project can be synced", async () => {
    const res = await post("/api/v1/mirrors/pytorch/sync", TOKEN, JSON.stringify({ project: "torch" }));
    assert.equal(res.status, 202);
    assert.equal(((await res.json()) as { project: string }).project, "torch");
    await scheduler.idle();
    const first = (await (await get("/api/v1/mirrors/pytorch/runs?limit=1")).json()) as {
      total: number;
      runs: { id: number; project: string | null }[];
      next: string | null;
    };
    assert.equal(first.total, 2);
    assert.equal(first.runs.length, 1);
    assert.equal(first.runs[0]?.project, "torch");
    assert.ok(first.next);
    const second = (await (await get(first.next)).json()) as typeof first;
    assert.equal(second.runs[0]?.project, null);
    assert.ok((second.runs[0]?.id ?? 0) < (first.runs[0]?.id ?? 0));
    assert.equal(second.next, null);
  });

  test("bad input is a 400: a project the mirror does not carry, a bad limit, a body that is not JSON", async () => {
    const cases: [Promise<Response>, RegExp][] = [
      [post("/api/v1/mirrors/pytorch/sync?project=numpy", TOKEN), /not among mirror "pytorch"'s projects/],
      [post("/api/v1/mirrors/pytorch/sync", TOKEN, "{not json"), /must be JSON/],
      [get("/api/v1/mirrors/pytorch/runs?limit=0"), /limit must be/],
      [get("/api/v1/mirrors/pytorch/runs?before=abc"), /before must be/],
    ];
    for (const [pending, message] of cases) {
      const res = await pending;
      assert.equal(res.status, 400);
      const body = (await res.json()) as ApiError;
      assert.equal(body.error.code, "FM_ERR_HTTP_BAD_REQUEST");
      assert.match(body.error.message, message);
    }
    assert.equal(await app.state.runs.count("pytorch"), 2, "no run started");
  });

  test("pause and resume: the schedule stops and restarts; config-paused and disabled mirrors refuse", async () => {
    const paused = await post("/api/v1/mirrors/pytorch/pause", TOKEN);
    assert.equal(paused.status, 200);
    assert.equal(((await paused.json()) as { state: string }).state, "paused");
    let m = await mirrorJson("pytorch");
    assert.equal(m.state, "paused");
    assert.equal(m.next_run_at, null);
    assert.equal(typeof m.paused_at, "string");
    const resumed = await post("/api/v1/mirrors/pytorch/resume", TOKEN);
    assert.equal(resumed.status, 200);
    m = await mirrorJson("pytorch");
    assert.equal(m.state, "success");
    assert.equal(typeof m.next_run_at, "string");
    const held = await post("/api/v1/mirrors/held/resume", TOKEN);
    assert.equal(held.status, 409);
    assert.match(((await held.json()) as ApiError).error.message, /paused in the config file/);
    const off = await post("/api/v1/mirrors/off/sync", TOKEN);
    assert.equal(off.status, 409);
    assert.match(((await off.json()) as ApiError).error.message, /disabled/);
  });

  test("/api/v1/mirrors lists every mirror with its state", async () => {
    const res = await get("/api/v1/mirrors");
    assert.equal(res.status, 200);
    const body = (await res.json()) as { mirrors: { name: string; state: string; mode: string }[] };
    assert.deepEqual(
      body.mirrors.map((m) => [m.name, m.state, m.mode]),
      [
        ["pytorch", "success", "mirror"],
        ["broken", "failed", "mirror"],
        ["fresh", "none", "mirror"],
        ["held", "paused", "mirror"],
        ["off", "disabled", "mirror"],
        ["pypi", "none", "proxy"],
      ],
    );
  });

  test("/jobs has exactly tunasync's fields, field by field", async () => {
    const res = await get("/jobs");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    const jobs = (await res.json()) as Record<string, unknown>[];
    // mirror-web reads the same document from /static/tunasync.json.
    const mirrorWeb = await get("/static/tunasync.json");
    assert.equal(mirrorWeb.status, 200);
    assert.deepEqual(
      ((await mirrorWeb.json()) as Record<string, unknown>[]).map((j) => [
        j.name,
        j.status,
        j.last_update_ts,
      ]),
      jobs.map((j) => [j.name, j.status, j.last_update_ts]),
    );
    const fields = [
      "name",
      "is_master",
      "status",
      "last_update",
      "last_update_ts",
      "last_started",
      "last_started_ts",
      "last_ended",
      "last_ended_ts",
      "next_schedule",
      "next_schedule_ts",
      "upstream",
      "size",
    ];
    for (const job of jobs) assert.deepEqual(Object.keys(job), fields, `fields of ${job.name}`);
    const byName = new Map(jobs.map((j) => [j.name, j]));
    const api = await mirrorJson("pytorch");
    const job = byName.get("pytorch") as Record<string, unknown>;
    const text = (iso: unknown) => formatLocalTime(Date.parse(String(iso)));
    const ts = (iso: unknown) => Math.floor(Date.parse(String(iso)) / 1000);
    assert.equal(job.is_master, true);
    assert.equal(job.status, "success");
    assert.equal(job.last_update, text(api.last_success_at));
    assert.equal(job.last_update_ts, ts(api.last_success_at));
    assert.equal(job.last_started, text(api.last_attempt_at));
    assert.equal(job.last_started_ts, ts(api.last_attempt_at));
    assert.equal(job.last_ended, text(api.last_ended_at));
    assert.equal(job.last_ended_ts, ts(api.last_ended_at));
    assert.equal(job.next_schedule, text(api.next_run_at));
    assert.equal(job.next_schedule_ts, ts(api.next_run_at));
    assert.match(String(job.last_update), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/);
    assert.equal(job.upstream, upstream.url);
    assert.match(String(job.size), /^\d+(\.\d+)?[BKMGTP]$/);
    const failed = byName.get("broken") as Record<string, unknown>;
    assert.equal(failed.status, "failed");
    assert.equal(failed.last_update, GO_ZERO_TEXT, "never succeeded: Go's zero time, as tunasync sends it");
    assert.equal(failed.last_update_ts, GO_ZERO_TS);
    assert.equal(typeof failed.last_ended_ts, "number");
    assert.ok((failed.last_ended_ts as number) > 0);
    const fresh = byName.get("fresh") as Record<string, unknown>;
    assert.equal(fresh.status, "none");
    assert.equal(fresh.size, "unknown");
    assert.equal(fresh.last_started_ts, GO_ZERO_TS);
    assert.ok((fresh.next_schedule_ts as number) > Date.now() / 1000, "scheduled");
    assert.equal((byName.get("held") as Record<string, unknown>).status, "paused");
    assert.equal((byName.get("held") as Record<string, unknown>).next_schedule_ts, GO_ZERO_TS);
    assert.equal((byName.get("off") as Record<string, unknown>).status, "disabled");
  });

  test("/mirrorz.json follows mirrorz v1.7, field by field", async () => {
    const res = await get("/mirrorz.json");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const doc = (await res.json()) as {
      version: number;
      site: Record<string, unknown>;
      info: unknown[];
      mirrors: Record<string, string>[];
    };
    assert.equal(doc.version, 1.7);
    assert.deepEqual(doc.site, { url: PUBLIC_URL, abbr: "EXAMPLE", name: "Example Mirrors" });
    assert.deepEqual(doc.info, []);
    for (const m of doc.mirrors) {
      assert.deepEqual(Object.keys(m), ["cname", "desc", "url", "status", "help", "upstream", "size"]);
      assert.match(m.status ?? "", /^([A-Z]\d*)+$/, "a concat of [A-Z](\\d+)?");
      assert.ok(!(m.url ?? "").endsWith("/"), "mirrors.url does not end with a slash");
    }
    const byName = new Map(doc.mirrors.map((m) => [m.cname, m]));
    assert.ok(!byName.has("off"), "disabled mirrors are not listed");
    const api = await mirrorJson("pytorch");
    const secs = (iso: unknown) => Math.floor(Date.parse(String(iso)) / 1000);
    assert.deepEqual(byName.get("pytorch"), {
      cname: "pytorch",
      desc: "PyTorch wheels",
      url: "/pytorch",
      status: `S${secs(api.last_success_at)}X${secs(api.next_run_at)}`,
      help: "/help/pytorch",
      upstream: upstream.url,
      size: byName.get("pytorch")?.size,
    });
    const broken = await mirrorJson("broken");
    assert.equal(byName.get("broken")?.status, `F${secs(broken.last_ended_at)}X${secs(broken.next_run_at)}`);
    assert.equal(byName.get("pypi")?.status, "C", "proxy-only mirrors are C");
    assert.match(byName.get("held")?.status ?? "", /^P\d*$/);
    assert.match(byName.get("fresh")?.status ?? "", /^UX\d+$/);
  });

  test("pages: every mirror's page and help render; an unknown one is a 404", async () => {
    for (const name of ["pytorch", "broken", "fresh", "held", "off", "pypi"]) {
      for (const path of [`/status/${name}`, `/help/${name}`]) {
        const res = await get(path);
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
        assert.match(await res.text(), new RegExp(`<h1>.*${name}`), path);
      }
    }
    const index = await (await get("/help/")).text();
    assert.match(index, /href="\/help\/pytorch"/);
    assert.ok(!index.includes('href="/help/off"'), "disabled mirrors have no help");
    assert.match(
      await (await get("/help/pypi")).text(),
      /pip install --index-url http:\/\/mirror\.example\.edu\/pypi\/simple --trusted-host mirror\.example\.edu numpy/,
    );
    assert.equal((await get("/status/nope")).status, 404);
    assert.equal((await get("/help/nope")).status, 404);
    assert.equal((await get("/help/%E0%A4%A")).status, 400);
    const head = await fetch(`${server.url}/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });

  test("/metrics is Prometheus text with per-mirror figures and what was served", async () => {
    await get("/pypi/simple/"); // a request counted by route
    const res = await get("/metrics");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const sample = (line: RegExp) => assert.match(text, line);
    sample(/^# TYPE freshmirror_mirror_last_success_timestamp_seconds gauge$/m);
    sample(/^freshmirror_mirror_last_success_timestamp_seconds\{mirror="pytorch"\} \d+(\.\d+)?$/m);
    sample(/^freshmirror_mirror_state\{mirror="pytorch",state="success"\} 1$/m);
    sample(/^freshmirror_mirror_state\{mirror="broken",state="failed"\} 1$/m);
    sample(/^freshmirror_mirror_state\{mirror="broken",state="success"\} 0$/m);
    sample(/^freshmirror_mirror_sync_runs_total\{mirror="pytorch",outcome="success"\} 2$/m);
    // Two failed runs of "broken": its own test, and the one the event-stream test triggers.
    sample(/^freshmirror_mirror_sync_runs_total\{mirror="broken",outcome="failed"\} 2$/m);
    sample(/^freshmirror_mirror_sync_duration_seconds\{mirror="pytorch"\} \d+(\.\d+)?$/m);
    sample(/^freshmirror_mirror_lag_seconds\{mirror="pytorch"\} \d+(\.\d+)?$/m);
    sample(/^freshmirror_mirror_size_bytes\{mirror="pytorch"\} [1-9]\d*$/m);
    sample(/^freshmirror_http_requests_total\{route="api",status="401"\} \d+$/m);
    sample(/^# TYPE freshmirror_http_response_bytes_total counter$/m);
    sample(/^# TYPE freshmirror_cache_requests_total counter$/m);
    sample(/^freshmirror_syncs_running 0$/m);
    assert.doesNotMatch(text, /mirror="broken"\} NaN/);
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      assert.match(line, /^[a-z_]+(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? -?\d+(\.\d+)?$/, line);
    }
  });
});
