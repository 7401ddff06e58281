// The real CLI: `freshmirror sync` progress without a terminal, `freshmirror status` and
// `freshmirror runs`, and `freshmirror serve` syncing a mirror on its schedule by itself.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type PypiUpstream, publishTorchLike, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace } from "../helpers/freshmirror-cli.js";

describe("freshmirror status, runs, sync progress, and serve's scheduler", () => {
  let upstream: PypiUpstream;
  let ws: MirrorWorkspace;

  before(async () => {
    upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    const common = {
      type: "pypi",
      upstream: upstream.url,
      projects: ["filelock", "typing-extensions"],
      retry_backoff: "10ms",
    };
    ws = createWorkspace({
      mirrors: {
        deps: { ...common, indexes: ["simple"] },
        ticking: { ...common, indexes: ["whl/cpu"], schedule: "2s" },
        pypi: { type: "pypi", upstream: upstream.url, indexes: ["simple"], mode: "proxy" },
      },
    });
  });

  after(async () => {
    await ws.cleanup();
    await upstream.close();
  });

  test("sync prints plain progress lines when stderr is not a terminal", async () => {
    const sync = await ws.cli(["sync", "deps"]);
    assert.equal(sync.code, 0, sync.stderr);
    assert.match(sync.stderr, /^reading index pages \d+\/2$/m);
    assert.match(sync.stderr, /^progress: \d+% files \d+\/\d+, .* ETA /m);
    assert.match(sync.stderr, /^publishing \d+ new files$/m);
    assert.ok(!sync.stderr.includes("\u001b["), "no terminal escapes in a log");
  });

  test("status shows every mirror's state, last success, next sync, lag and size; --json as the API", async () => {
    const status = await ws.cli(["status"]);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^MIRROR\s+STATE\s+LAST SUCCESS\s+NEXT SYNC\s+LAG\s+SIZE\s+UPSTREAM$/);
    assert.match(
      lines[1] ?? "",
      /^deps\s+success\s+\d{4}-\d\d-\d\d \d\d:\d\d \((just now|\d+ s ago)\)\s+.*\d+ s\s+[\d.]+ KiB \(\d+ files\)\s+http/,
    );
    assert.match(lines[2] ?? "", /^ticking\s+none\s+never\s+not scheduled\s+never synced\s+0 B \(0 files\)/);
    assert.match(lines[3] ?? "", /^pypi\s+none\s+-\s+on demand\s+n\/a\s+/);
    const json = await ws.cli(["status", "--json"]);
    const body = JSON.parse(json.stdout) as {
      mirrors: { name: string; state: string; file_count: number }[];
    };
    assert.deepEqual(
      body.mirrors.map((m) => [m.name, m.state]),
      [
        ["deps", "success"],
        ["ticking", "none"],
        ["pypi", "none"],
      ],
    );
    assert.ok((body.mirrors[0]?.file_count ?? 0) >= 2);
  });

  test("runs lists a mirror's runs newest first; an unknown mirror is an error naming the known ones", async () => {
    const runs = await ws.cli(["runs", "deps"]);
    assert.equal(runs.code, 0, runs.stderr);
    assert.match(runs.stdout, /^RUN\s+STARTED\s+DURATION\s+OUTCOME\s+FILES\s+ADDED\s+ERROR$/m);
    assert.match(
      runs.stdout,
      /^#\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\s+\d+ s\s+success\s+\+\d+\/-0 \(\d+\)/m,
    );
    const json = JSON.parse((await ws.cli(["runs", "deps", "--json"])).stdout) as { total: number };
    assert.equal(json.total, 1);
    const unknown = await ws.cli(["runs", "nope"]);
    assert.equal(unknown.code, 2, "an unknown mirror is a usage error");
    assert.match(unknown.stderr, /no mirror named "nope" \(configured: deps, ticking, pypi\)/);
  });

  test("serve syncs a mirror on its schedule by itself, and says when the next run is", async () => {
    const server = await ws.serve();
    const deadline = Date.now() + 20_000;
    let state = "";
    let next: string | null = null;
    while (Date.now() < deadline) {
      const m = (await (await fetch(`${server.url}/api/v1/mirrors/ticking`)).json()) as {
        state: string;
        next_run_at: string | null;
      };
      state = m.state;
      next = m.next_run_at;
      if (state === "success") break;
      await sleep(200);
    }
    assert.equal(state, "success", `the scheduled sync ran:\n${server.output()}`);
    assert.ok(next !== null && Date.parse(next) > Date.now() - 2000, `next run is scheduled: ${next}`);
    assert.match(server.output(), /scheduler: ticking: schedule run queued/);
    assert.match(server.output(), /scheduler: ticking: schedule run success/);
    const deps = (await (await fetch(`${server.url}/api/v1/mirrors/deps`)).json()) as { next_run_at: string };
    const nextDeps = new Date(Date.parse(deps.next_run_at));
    assert.deepEqual([nextDeps.getHours(), nextDeps.getMinutes()], [2, 0], "the default nightly 02:00 local");
    await server.stop();
  });
});
