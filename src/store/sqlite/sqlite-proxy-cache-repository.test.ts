import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ProxyPageRow } from "../state-repositories.js";
import { openSqliteDatabase, type SqliteDatabase } from "./sqlite-database.js";
import {
  PROXY_CACHE_LIMITS,
  SqliteProxyCacheRepository as ProxyCacheStore,
  TRIM_EVERY,
} from "./sqlite-proxy-cache-repository.js";

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

function rows(db: SqliteDatabase, status: "200" | "other"): number {
  const where = status === "200" ? "status = 200" : "status <> 200";
  return db.prepare(`SELECT COUNT(*) FROM proxy_pages WHERE ${where}`).pluck().get() as number;
}

test("5,000 random project names do not leave 5,000 rows: negative entries are bounded, the newest kept", async (t) => {
  const db = openSqliteDatabase(join(mkdtempSync(join(tmpdir(), "fm-proxycache-")), "state.sqlite"));
  t.after(() => db.close());
  const cache = new ProxyCacheStore(db);
  await cache.putPage(page("torch", 200, 1), []);
  const started = performance.now();
  let last = "";
  for (let i = 0; i < 5_000; i++) {
    last = `nosuch-${randomBytes(6).toString("hex")}`;
    await cache.putPage(page(last, 404, 1_000 + i), []);
  }
  const perPut = (performance.now() - started) / 5_000;
  const negatives = rows(db, "other");
  assert.ok(
    negatives >= PROXY_CACHE_LIMITS.negativePages &&
      negatives < PROXY_CACHE_LIMITS.negativePages + TRIM_EVERY,
    `${negatives} rows`,
  );
  assert.ok(await cache.page("pypi", "simple", last), "the newest negative entry is kept");
  assert.ok(await cache.page("pypi", "simple", "torch"), "a real page is not pushed out by negative entries");
  assert.ok(perPut < 5, `a put stays cheap (${perPut.toFixed(3)} ms)`);
});

test("real pages are bounded too, oldest fetched first", async (t) => {
  const db = openSqliteDatabase(join(mkdtempSync(join(tmpdir(), "fm-proxycache-")), "state.sqlite"));
  t.after(() => db.close());
  const cache = new ProxyCacheStore(db, { negativePages: 10, pages: 100 });
  for (let i = 0; i < 1_000; i++) await cache.putPage(page(`p${i}`, 200, i), []);
  const kept = rows(db, "200");
  assert.ok(kept >= 100 && kept < 100 + TRIM_EVERY, `kept ${kept}`);
  assert.ok(await cache.page("pypi", "simple", "p999"));
  assert.equal(await cache.page("pypi", "simple", "p0"), undefined);
});
