import assert from "node:assert/strict";
import { test } from "node:test";
import { mirrorStatusFixture } from "../../test/helpers/mirror-status-fixture.js";
import { escapeLabel, renderMetrics } from "./metrics.js";

test("label values escape backslash, quote and newline", () => {
  assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

test("metrics: per-mirror figures, served requests and bytes, cache results, in exposition format", () => {
  const text = renderMetrics({
    statuses: [
      mirrorStatusFixture(),
      mirrorStatusFixture({ name: "pypi", mode: "proxy", lagMs: null, lastSuccessAt: null, state: "none" }),
    ],
    runOutcomes: [
      { mirror: "pytorch", outcome: "success", count: 7 },
      { mirror: "pytorch", outcome: "failed", count: 2 },
      { mirror: "pytorch", outcome: "running", count: 1 },
    ],
    requests: new Map([
      ["file 200", 10],
      ["file 206", 2],
    ]),
    bytes: new Map([["file", 123456]]),
    cacheResults: new Map([
      ["pypi HIT", 5],
      ["pypi COALESCED", 1],
    ]),
    syncsRunning: 1,
    syncsQueued: 0,
    fileResponses: { active: 3, limit: 512, refused: 9 },
    startedAt: 1_700_000_000_000,
  });
  const lines = text.split("\n");
  const has = (line: string) => assert.ok(lines.includes(line), `missing: ${line}\n${text}`);
  has("# TYPE freshmirror_mirror_state gauge");
  has('freshmirror_mirror_state{mirror="pytorch",state="success"} 1');
  has('freshmirror_mirror_state{mirror="pytorch",state="failed"} 0');
  has(
    `freshmirror_mirror_last_success_timestamp_seconds{mirror="pytorch"} ${Date.UTC(2025, 2, 1, 2, 10, 5, 900) / 1000}`,
  );
  has('freshmirror_mirror_sync_duration_seconds{mirror="pytorch"} 605.65');
  has('freshmirror_mirror_sync_runs_total{mirror="pytorch",outcome="success"} 7');
  has('freshmirror_mirror_sync_runs_total{mirror="pytorch",outcome="failed"} 2');
  has('freshmirror_mirror_lag_seconds{mirror="pytorch"} 10800');
  has(`freshmirror_mirror_size_bytes{mirror="pytorch"} ${5 * 1024 ** 3 + 300 * 1024 ** 2}`);
  has('freshmirror_http_requests_total{route="file",status="206"} 2');
  has('freshmirror_http_response_bytes_total{route="file"} 123456');
  has('freshmirror_cache_requests_total{mirror="pypi",result="hit"} 5');
  has('freshmirror_cache_requests_total{mirror="pypi",result="coalesced"} 1');
  has("freshmirror_syncs_running 1");
  has("# TYPE freshmirror_file_responses_active gauge");
  has("freshmirror_file_responses_active 3");
  has("freshmirror_file_responses_limit 512");
  has("# TYPE freshmirror_file_responses_refused_total counter");
  has("freshmirror_file_responses_refused_total 9");
  has("process_start_time_seconds 1700000000");
  assert.ok(!text.includes('outcome="running"'), "running runs are not a finished outcome");
  assert.ok(!text.includes('lag_seconds{mirror="pypi"}'), "no lag sample for a proxy");
  assert.ok(text.endsWith("\n"));
});
