import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { StateStore } from "../store/state-store.js";
import { PROXY_CACHE_LIMITS, ProxyCacheStore, type ProxyPageRow, TRIM_EVERY } from "./proxy-cache-store.js";

function page(project: string, status: number, fetchedAt: number): ProxyPageRow {
  return {
    mirror: "pypi",
    idx: "simple",
    project,
    fetchedAt,
    status,
    etag: null,
    lastModified: null,
    body: status === 200 ? JSON.stringify({ displayName: project, files: [] }) : null,
  };
}

function rows(state: StateStore, status: "200" | "other"): number {
  const where = status === "200" ? "status = 200" : "status <> 200";
  return state.db.prepare(`SELECT COUNT(*) FROM proxy_pages WHERE ${where}`).pluck().get() as number;
}

test("5,000 random project names do not leave 5,000 rows: negative entries are bounded, the newest kept", (t) => {
  const state = new StateStore(join(mkdtempSync(join(tmpdir(), "fm-proxycache-")), "state.sqlite"));
  t.after(() => state.close());
  const cache = new ProxyCacheStore(state.db);
  cache.putPage(page("torch", 200, 1), []);
  const started = performance.now();
  let last = "";
  for (let i = 0; i < 5_000; i++) {
    last = `nosuch-${randomBytes(6).toString("hex")}`;
    cache.putPage(page(last, 404, 1_000 + i), []);
  }
  const perPut = (performance.now() - started) / 5_000;
  const negatives = rows(state, "other");
  assert.ok(
    negatives >= PROXY_CACHE_LIMITS.negativePages &&
      negatives < PROXY_CACHE_LIMITS.negativePages + TRIM_EVERY,
    `${negatives} rows`,
  );
  assert.ok(cache.page("pypi", "simple", last), "the newest negative entry is kept");
  assert.ok(cache.page("pypi", "simple", "torch"), "a real page is not pushed out by negative entries");
  assert.ok(perPut < 5, `a put stays cheap (${perPut.toFixed(3)} ms)`);
});

test("real pages are bounded too, oldest fetched first", (t) => {
  const state = new StateStore(join(mkdtempSync(join(tmpdir(), "fm-proxycache-")), "state.sqlite"));
  t.after(() => state.close());
  const cache = new ProxyCacheStore(state.db, { negativePages: 10, pages: 100 });
  for (let i = 0; i < 1_000; i++) cache.putPage(page(`p${i}`, 200, i), []);
  const kept = rows(state, "200");
  assert.ok(kept >= 100 && kept < 100 + TRIM_EVERY, `kept ${kept}`);
  assert.ok(cache.page("pypi", "simple", "p999"));
  assert.equal(cache.page("pypi", "simple", "p0"), undefined);
});
