import assert from "node:assert/strict";
import { test } from "node:test";
import { TokenCache, tokenExpiry, tokenFromResponse } from "./token-cache.js";

const key = { realm: "https://auth.example/token", service: "reg", scope: "repository:a:pull" };

test("expires_in defaults to 60 s and counts from issued_at only when that is earlier than the request", () => {
  const t0 = Date.UTC(2026, 0, 1);
  assert.equal(tokenExpiry({}, t0), t0 + 60_000);
  assert.equal(tokenExpiry({ expires_in: 300 }, t0), t0 + 300_000);
  assert.equal(
    tokenExpiry({ expires_in: 300, issued_at: new Date(t0 - 100_000).toISOString() }, t0),
    t0 + 200_000,
  );
  assert.equal(
    tokenExpiry({ expires_in: 300, issued_at: new Date(t0 + 3_600_000).toISOString() }, t0),
    t0 + 300_000,
  );
  assert.equal(tokenExpiry({ expires_in: "300" }, t0), t0 + 60_000);
  assert.equal(tokenExpiry({ expires_in: -5 }, t0), t0 + 60_000);
  assert.equal(tokenFromResponse({ access_token: "b" }), "b");
  assert.equal(tokenFromResponse({ token: "a", access_token: "b" }), "a");
  assert.equal(tokenFromResponse({ token: "" }), undefined);
});

test("a token is reused until a margin before it expires, then fetched again", async () => {
  let now = 1_000_000;
  const cache = new TokenCache({ now: () => now, refreshMarginMs: 10_000 });
  let fetches = 0;
  const fetch = async () => ({ token: `t${++fetches}`, expires_in: 60 });
  assert.equal(await cache.get(key, fetch), "t1");
  now += 49_000;
  assert.equal(await cache.get(key, fetch), "t1");
  now += 1_000;
  assert.equal(await cache.get(key, fetch), "t2", "dropped 10 s before expiry");
  assert.equal(
    await cache.get({ ...key, scope: "repository:b:pull" }, fetch),
    "t3",
    "another scope, another token",
  );
  assert.equal(await cache.get({ ...key, account: "bob" }, fetch), "t4", "another account, another token");
});

test("concurrent gets share one fetch; a failed fetch is not cached", async () => {
  const cache = new TokenCache();
  let fetches = 0;
  let release: (value: { token: string }) => void = () => {};
  const slow = () => {
    fetches++;
    return new Promise<{ token: string }>((resolve) => {
      release = resolve;
    });
  };
  const all = Promise.all([cache.get(key, slow), cache.get(key, slow), cache.get(key, slow)]);
  release({ token: "shared" });
  assert.deepEqual(await all, ["shared", "shared", "shared"]);
  assert.equal(fetches, 1);

  const other = { ...key, scope: "repository:c:pull" };
  await assert.rejects(
    cache.get(other, async () => Promise.reject(new Error("token server down"))),
    /token server down/,
  );
  await assert.rejects(
    cache.get(other, async () => ({ nothing: true }) as never),
    /without a token/,
  );
  assert.equal(await cache.get(other, async () => ({ token: "later" })), "later");
});

test("invalidate drops only the refused token; the cache is bounded", async () => {
  const cache = new TokenCache({ maxEntries: 2 });
  await cache.get(key, async () => ({ token: "a" }));
  cache.invalidate(key, "not-a");
  assert.equal(cache.peek(key), "a");
  cache.invalidate(key, "a");
  assert.equal(cache.peek(key), undefined);
  for (const s of ["x", "y", "z"]) await cache.get({ ...key, scope: s }, async () => ({ token: s }));
  assert.equal(cache.size, 2);
  assert.equal(cache.peek({ ...key, scope: "x" }), undefined, "the oldest went first");
});
