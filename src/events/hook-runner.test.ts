import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pypiSubjectMatcher } from "../pypi/subject-matcher.js";
import { EventBus, type EventInput, type FreshmirrorEvent } from "./event-bus.js";
import { hooksSchema, type RawHooks } from "./hook-config.js";
import { type HookResult, HookRunner, hookMatches } from "./hook-runner.js";
import { literalMatcher } from "./subject-matcher.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A local webhook receiver; `answer` picks the status for the n-th request (1-based). */
async function startReceiver(answer: (n: number) => number = () => 200) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.statusCode = answer(received.length);
      res.end("ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether a process is gone (or a zombie waiting to be reaped) within `ms`. */
async function exits(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    } catch {
      return true;
    }
    if (state === "Z" || state === "X") return true;
    if (Date.now() > deadline) {
      console.error(`pid ${pid} state ${state}`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every mirror in these tests is a PyPI mirror. */
const matcherFor = () => pypiSubjectMatcher;

function hooks(raw: RawHooks) {
  return hooksSchema.parse(raw);
}

const release = (version: string, project = "torch"): EventInput => ({
  type: "release.new",
  mirror: "pytorch",
  project,
  version,
  files: [
    {
      filename: `${project}-${version}-cp312-cp312-linux_x86_64.whl`,
      url: `http://mirror.example.edu/pytorch/whl/cu121/${project}-${version}-cp312-cp312-linux_x86_64.whl`,
      sha256: "ab".repeat(32),
      size: 1234,
    },
  ],
});

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fm-hooks-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a release.new webhook reaches the receiver with the event as JSON and a valid HMAC-SHA256 signature", async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const secret = "correct horse battery staple";
  const runner = new HookRunner(
    hooks([
      { on: "new_version", project: "torch", webhook: { url: receiver.url, secret_env: "FM_TEST_SECRET" } },
    ]),
    { matcherFor, env: { FM_TEST_SECRET: secret } },
  );
  const bus = new EventBus();
  runner.attach(bus);
  bus.emit({ type: "sync.started", mirror: "pytorch", runId: 1 });
  bus.emit(release("1.0", "numpy"));
  const event = bus.emit(release("2.9.1+cu121"));
  await runner.idle();

  assert.equal(receiver.received.length, 1, "only the matching event is delivered");
  const [got] = receiver.received;
  assert.ok(got);
  assert.equal(got.headers["content-type"], "application/json");
  assert.equal(got.headers["x-freshmirror-event"], "release.new");
  assert.match(
    String(got.headers["x-freshmirror-delivery"]),
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  const signature = String(got.headers["x-freshmirror-signature"]);
  const expected = `sha256=${createHmac("sha256", secret).update(got.body).digest("hex")}`;
  assert.ok(
    timingSafeEqual(Buffer.from(signature), Buffer.from(expected)),
    "the signature verifies with the secret",
  );
  const wrong = `sha256=${createHmac("sha256", "not the secret").update(got.body).digest("hex")}`;
  assert.notEqual(signature, wrong);
  assert.deepEqual(JSON.parse(got.body.toString("utf8")), JSON.parse(JSON.stringify(event)));
  const log = runner.deliveries();
  assert.equal(log.length, 1);
  assert.equal(log[0]?.ok, true);
  assert.equal(log[0]?.status, 200);
});

test("a receiver that is down is retried with backoff, then recorded as failed; the emitter is unaffected", async (t) => {
  const dir = tempDir(t);
  const port = await closedPort();
  const results: HookResult[] = [];
  const runner = new HookRunner(
    hooks([
      { name: "down", on: "sync.failed", webhook: { url: `http://127.0.0.1:${port}/hook`, retries: 2 } },
    ]),
    {
      matcherFor,
      backoffBaseMs: 20,
      logFile: join(dir, "logs", "hooks.log"),
      onResult: (r) => results.push(r),
    },
  );
  const bus = new EventBus();
  runner.attach(bus);
  const started = Date.now();
  const event = bus.emit({ type: "sync.failed", mirror: "pytorch", runId: 3, error: "upstream down" });
  assert.ok(Date.now() - started < 50, "emit does not wait for the delivery");
  await runner.idle();

  assert.equal(results.length, 1);
  assert.equal(results[0]?.ok, false);
  assert.equal(results[0]?.attempts, 3);
  assert.match(results[0]?.error ?? "", /ECONNREFUSED/);
  assert.ok(Date.now() - started >= 20 + 40, "waited between attempts (20 ms, then 40 ms)");
  const lines = readFileSync(join(dir, "logs", "hooks.log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => [l.hook, l.event, l.attempt, l.ok, l.retrying]),
    [
      ["down", event.id, 1, false, true],
      ["down", event.id, 2, false, true],
      ["down", event.id, 3, false, false],
    ],
  );
  assert.ok(
    lines.every(
      (l) => typeof l.time === "string" && typeof l.durationMs === "number" && /ECONNREFUSED/.test(l.error),
    ),
  );
  assert.equal(new Set(lines.map((l) => l.delivery)).size, 1, "one delivery id across attempts");
});

test("a receiver answering 500 twice then 200 gets the event on attempt 3, with the same delivery id", async (t) => {
  const receiver = await startReceiver((n) => (n <= 2 ? 500 : 200));
  t.after(() => receiver.close());
  const runner = new HookRunner(hooks([{ on: "release.new", webhook: { url: receiver.url, secret: "s" } }]), {
    matcherFor,
    backoffBaseMs: 10,
  });
  const [result] = await runner.dispatch(new EventBus().emit(release("2.9.1")));
  assert.equal(result?.ok, true);
  assert.equal(result?.attempts, 3);
  assert.equal(receiver.received.length, 3);
  assert.equal(new Set(receiver.received.map((r) => r.headers["x-freshmirror-delivery"])).size, 1);
  assert.deepEqual(
    runner.deliveries().map((d) => [d.attempt, d.status, d.ok]),
    [
      [1, 500, false],
      [2, 500, false],
      [3, 200, true],
    ],
  );
});

test("a 4xx answer is not retried", async (t) => {
  const receiver = await startReceiver(() => 403);
  t.after(() => receiver.close());
  const runner = new HookRunner(hooks([{ on: "release.new", webhook: { url: receiver.url } }]), {
    matcherFor,
    backoffBaseMs: 10,
  });
  const [result] = await runner.dispatch(new EventBus().emit(release("2.9.1")));
  assert.equal(result?.ok, false);
  assert.equal(result?.attempts, 1);
  assert.equal(result?.error, "receiver answered HTTP 403");
});

test("a webhook whose secret_env is unset is recorded as failed and not sent unsigned", async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const runner = new HookRunner(
    hooks([{ on: "release.new", webhook: { url: receiver.url, secret_env: "FM_UNSET_SECRET" } }]),
    { matcherFor, env: {} },
  );
  const [result] = await runner.dispatch(new EventBus().emit(release("2.9.1")));
  assert.equal(result?.ok, false);
  assert.match(result?.error ?? "", /FM_UNSET_SECRET .* is not set/);
  assert.equal(receiver.received.length, 0);
});

const RECORD_SCRIPT = `
const fs = require("node:fs");
const keys = ["FRESHMIRROR_EVENT", "FRESHMIRROR_MIRROR", "FRESHMIRROR_PROJECT", "FRESHMIRROR_VERSION", "FRESHMIRROR_EVENT_JSON", "EXTRA"];
const env = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
fs.appendFileSync(process.argv[1], JSON.stringify({ argv: process.argv.slice(2), env }) + "\\n");
console.log("built " + process.argv[2]);
`;

test("a command hook runs once per matching event, with placeholders substituted per argument and FRESHMIRROR_* set", async (t) => {
  const dir = tempDir(t);
  const out = join(dir, "runs.jsonl");
  const runner = new HookRunner(
    hooks([
      {
        on: "new_version",
        mirror: "pytorch",
        project: "torch",
        versions: ">=2.9",
        command: [
          process.execPath,
          "-e",
          RECORD_SCRIPT,
          out,
          "{version}",
          "--tag=torch:{version} {mirror}",
          "{event}",
        ],
        env: { EXTRA: "yes" },
      },
    ]),
    { matcherFor },
  );
  const bus = new EventBus();
  runner.attach(bus);
  bus.emit(release("2.8.0")); // below the specifier
  bus.emit(release("2.9.1", "torchvision")); // another project
  const event: FreshmirrorEvent = bus.emit(release("2.9.1+cu121"));
  const again = await runner.dispatch(event); // the same event again: not run twice
  await runner.idle();

  const runs = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(runs.length, 1);
  assert.deepEqual(runs[0].argv, ["2.9.1+cu121", "--tag=torch:2.9.1+cu121 pytorch", "release.new"]);
  assert.equal(runs[0].env.FRESHMIRROR_EVENT, "release.new");
  assert.equal(runs[0].env.FRESHMIRROR_MIRROR, "pytorch");
  assert.equal(runs[0].env.FRESHMIRROR_PROJECT, "torch");
  assert.equal(runs[0].env.FRESHMIRROR_VERSION, "2.9.1+cu121");
  assert.equal(runs[0].env.EXTRA, "yes");
  assert.equal(JSON.parse(runs[0].env.FRESHMIRROR_EVENT_JSON).id, event.id);
  assert.equal(again[0]?.ok, true);
  assert.equal(again[0]?.exitCode, 0);
  assert.match(again[0]?.output ?? "", /^built 2\.9\.1\+cu121\n$/);
  assert.equal(runner.deliveries().length, 1);
});

test("a hanging command is killed with its whole process group at its timeout and recorded; a failing one records its exit code", async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, "grandchild.pid");
  // A shell, not node: it starts within the 500 ms timeout even on a loaded machine (node can take
  // over a second there, and would be killed before it printed anything).
  const hang = `sleep 1000 & echo $! > '${pidFile}'; echo started; sleep 1000`;
  const runner = new HookRunner(
    hooks([
      { name: "hang", on: "sync.succeeded", command: ["/bin/sh", "-c", hang], timeout: "500ms" },
      {
        name: "fail",
        on: "sync.succeeded",
        command: [process.execPath, "-e", "console.error('no disk'); process.exit(3)"],
      },
      { name: "missing", on: "sync.succeeded", command: [join(dir, "no-such-program")] },
    ]),
    { matcherFor, killGraceMs: 200 },
  );
  const bus = new EventBus();
  const started = Date.now();
  const results = await runner.dispatch(
    bus.emit({
      type: "sync.succeeded",
      mirror: "pytorch",
      runId: 1,
      filesAdded: 1,
      bytesAdded: 1,
      filesRemoved: 0,
      durationMs: 1,
    }),
  );
  const elapsed = Date.now() - started;
  const byHook = new Map(results.map((r) => [r.hook, r]));

  const hung = byHook.get("hang");
  assert.equal(hung?.ok, false);
  assert.equal(hung?.timedOut, true);
  assert.equal(hung?.signal, "SIGTERM");
  assert.match(hung?.error ?? "", /killed after its timeout of 500 ms/);
  assert.match(hung?.output ?? "", /started/);
  assert.ok(elapsed >= 500 && elapsed < 5000, `killed at its timeout (${elapsed} ms)`);
  const grandchild = Number(readFileSync(pidFile, "utf8"));
  assert.ok(await exits(grandchild, 2000), `the process it started (${grandchild}) was killed too`);

  assert.equal(byHook.get("fail")?.exitCode, 3);
  assert.match(byHook.get("fail")?.output ?? "", /no disk/);
  assert.match(byHook.get("missing")?.error ?? "", /cannot run .*no-such-program.*ENOENT/);
  const log = runner.deliveries();
  assert.deepEqual(log.map((l) => [l.hook, l.ok, l.timedOut ?? false]).sort(), [
    ["fail", false, false],
    ["hang", false, true],
    ["missing", false, false],
  ]);
});

test("command output is kept to its last bytes", async () => {
  const runner = new HookRunner(
    hooks([
      {
        on: "release.new",
        command: [process.execPath, "-e", "process.stdout.write('x'.repeat(300000) + 'END')"],
      },
    ]),
    { matcherFor, outputLimitBytes: 1024 },
  );
  const [result] = await runner.dispatch(new EventBus().emit(release("1.0")));
  assert.equal(result?.ok, true);
  assert.match(result?.output ?? "", /^\[… 298979 earlier bytes not kept\]\nx+END$/);
  assert.ok((result?.output ?? "").length < 1100);
});

test("close() cancels pending retries and kills running commands", async () => {
  const port = await closedPort();
  const runner = new HookRunner(
    hooks([
      { on: "release.new", webhook: { url: `http://127.0.0.1:${port}/`, retries: 10 } },
      { on: "release.new", command: [process.execPath, "-e", "setTimeout(()=>{}, 1e9)"] },
    ]),
    { matcherFor, backoffBaseMs: 10_000 },
  );
  const pending = runner.dispatch(new EventBus().emit(release("1.0")));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  await runner.close();
  const results = await pending;
  assert.ok(Date.now() - started < 3000);
  assert.ok(results.every((r) => !r.ok));
  assert.ok(results.find((r) => r.kind === "webhook")?.attempts === 1);
});

test("hooks match projects and versions through the matcher of the event's mirror", () => {
  const [anyMirror, onPytorch] = hooks([
    { on: "new_version", project: "Torch_Audio", versions: ">=2.5", command: ["x"] },
    { on: "new_version", mirror: "pytorch", project: "torch", command: ["x"] },
  ]);
  assert.ok(anyMirror && onPytorch);
  const asked: string[] = [];
  const byMirror = (mirror: string | undefined) => {
    if (mirror !== undefined) asked.push(mirror);
    return mirror === "images" ? literalMatcher : pypiSubjectMatcher;
  };
  const bus = new EventBus();
  const event = (mirror: string, project: string, version: string) =>
    bus.emit({ ...release(version, project), mirror } as EventInput);
  assert.equal(hookMatches(anyMirror, event("pytorch", "torch-audio", "2.6.0+cu121"), byMirror), true);
  assert.equal(hookMatches(anyMirror, event("pytorch", "torch-audio", "2.4.0"), byMirror), false);
  assert.deepEqual(asked, ["pytorch", "pytorch"]);
  // The literal matcher reads neither PEP 503 names nor PEP 440 ranges.
  assert.equal(hookMatches(anyMirror, event("images", "torch-audio", "2.6.0"), byMirror), false);
  assert.equal(hookMatches(anyMirror, event("images", "Torch_Audio", "2.6.0"), byMirror), false);
  assert.equal(hookMatches(onPytorch, event("images", "torch", "2.6.0"), byMirror), false, "another mirror");
  assert.equal(hookMatches(onPytorch, event("pytorch", "TORCH", "1.0"), byMirror), true);
  const runner = new HookRunner([anyMirror, onPytorch], { matcherFor: byMirror });
  assert.deepEqual(
    runner.matching(event("pytorch", "torch_audio", "2.9.1")).map((h) => h.id),
    [anyMirror.id],
  );
});

test("a hook on every mirror whose versions filter another kind cannot read matches none of its events", () => {
  const [hook] = hooks([{ on: "new_version", versions: "", command: ["x"] }]);
  assert.ok(hook);
  const byMirror = (mirror: string | undefined) =>
    mirror === "images" ? literalMatcher : pypiSubjectMatcher;
  const bus = new EventBus();
  // "" is an empty PEP 440 specifier set (every final release) but no exact version.
  assert.equal(hookMatches(hook, bus.emit(release("2.6.0")), byMirror), true);
  assert.equal(
    hookMatches(hook, bus.emit({ ...release("2.6.0"), mirror: "images" } as EventInput), byMirror),
    false,
  );
});
