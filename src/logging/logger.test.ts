import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, UpstreamStatusError } from "../errors.js";
import { createLogger, type LogLevel, logLevelFrom } from "./logger.js";

function capture(level?: LogLevel) {
  const lines: string[] = [];
  const logger = createLogger({
    ...(level ? { level } : {}),
    destination: { write: (l: string) => lines.push(l) },
  });
  return { logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

test("one JSON object per line: level name, ISO time, msg and the fields given", () => {
  const { logger, records, lines } = capture();
  logger.info({ mirror: "pytorch" }, "scheduler: pytorch: schedule run queued");
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith("\n"), "newline-terminated");
  const [record] = records();
  assert.equal(record?.level, "info");
  assert.equal(record?.msg, "scheduler: pytorch: schedule run queued");
  assert.equal(record?.mirror, "pytorch");
  assert.match(String(record?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("the level filters: info by default, debug only when asked", () => {
  const normal = capture();
  normal.logger.debug("hidden");
  normal.logger.warn("shown");
  assert.deepEqual(
    normal.records().map((r) => r.msg),
    ["shown"],
  );
  const verbose = capture("debug");
  verbose.logger.debug("shown");
  assert.equal(verbose.records().length, 1);
  const quiet = capture("silent");
  quiet.logger.error("nothing");
  assert.equal(quiet.lines.length, 0);
});

test("err and url fields never carry credentials; a coded error keeps its code", () => {
  const { logger, lines, records } = capture();
  const secretUrl = "https://alice:hunter2@pypi.example/simple/?token=abc123&page=1";
  const plain = new Error(`GET ${secretUrl} failed`);
  logger.error({ err: plain, url: secretUrl }, "fetch failed");
  logger.warn({ err: new UpstreamStatusError(secretUrl, 500) }, "upstream");
  logger.error({ err: "thrown string with https://bob:pw@h/x" }, "odd throw");
  const text = lines.join("");
  for (const secret of ["hunter2", "abc123", "alice", "bob:pw"])
    assert.ok(!text.includes(secret), `${secret} in:\n${text}`);
  const [first, second] = records() as [
    Record<string, Record<string, unknown>>,
    Record<string, Record<string, unknown>>,
  ];
  assert.equal(first.url as unknown, "https://pypi.example/simple/?token=***&page=1");
  assert.match(
    String(first.err?.message),
    /GET https:\/\/pypi\.example\/simple\/\?token=\*\*\*&page=1 failed/,
  );
  assert.match(String(first.err?.stack), /^Error: GET https:\/\/pypi\.example/);
  assert.equal(second.err?.code, "FM_ERR_UPSTREAM_STATUS");
  assert.equal(second.err?.type, "UpstreamStatusError");
});

test("FRESHMIRROR_LOG_LEVEL wins over log_level; an unknown level is a config error naming it", () => {
  assert.equal(logLevelFrom({}, undefined), "info");
  assert.equal(logLevelFrom({}, "warn"), "warn");
  assert.equal(logLevelFrom({ FRESHMIRROR_LOG_LEVEL: "DEBUG" }, "warn"), "debug");
  assert.equal(logLevelFrom({ FRESHMIRROR_LOG_LEVEL: "" }, "error"), "error");
  assert.throws(
    () => logLevelFrom({ FRESHMIRROR_LOG_LEVEL: "loud" }, "info"),
    (e: unknown) =>
      e instanceof ConfigError && /FRESHMIRROR_LOG_LEVEL: not a log level: "loud"/.test(e.message),
  );
});
