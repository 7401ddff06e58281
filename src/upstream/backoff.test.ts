import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";

test("without jitter the delay doubles from the base on each attempt", () => {
  const delays = [0, 1, 2, 3].map((attempt) => backoffDelay(attempt, { baseMs: 100, jitter: false }));
  assert.deepEqual(delays, [100, 200, 400, 800]);
});

test("with jitter each delay lies in [d/2, d], reaching both ends", () => {
  for (const attempt of [0, 1, 4]) {
    const nominal = 100 * 2 ** attempt;
    assert.equal(backoffDelay(attempt, { baseMs: 100, random: () => 0 }), nominal / 2);
    assert.equal(
      backoffDelay(attempt, { baseMs: 100, random: () => 0.999999 }),
      nominal / 2 + 0.999999 * (nominal / 2),
    );
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt, { baseMs: 100 });
      assert.ok(
        d >= nominal / 2 && d <= nominal,
        `attempt ${attempt}: ${d} outside [${nominal / 2}, ${nominal}]`,
      );
    }
  }
});

test("jitter spreads the delays: not all the same", () => {
  const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(3, { baseMs: 100 })));
  assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
});

test("the cap bounds the delay, before jitter; default cap 30 s", () => {
  assert.equal(backoffDelay(20, { baseMs: 1000, jitter: false }), DEFAULT_MAX_BACKOFF_MS);
  assert.equal(backoffDelay(3, { baseMs: 1000, maxMs: 5000, jitter: false }), 5000);
  const capped = backoffDelay(10, { baseMs: 1000, maxMs: 5000, random: () => 0 });
  assert.equal(capped, 2500, "a capped delay still gets jitter: [max/2, max]");
  assert.equal(
    backoffDelay(2000, { baseMs: 1000, maxMs: 5000, jitter: false }),
    5000,
    "2^2000 overflows; still capped",
  );
  assert.equal(
    backoffDelay(12, { baseMs: 60_000, maxMs: Number.POSITIVE_INFINITY, jitter: false }),
    60_000 * 4096,
    "Infinity: no cap",
  );
});

test("a negative, fractional or non-finite attempt counts as its floor, at least 0", () => {
  assert.equal(backoffDelay(-3, { baseMs: 100, jitter: false }), 100);
  assert.equal(backoffDelay(Number.NaN, { baseMs: 100, jitter: false }), 100);
  assert.equal(backoffDelay(2.7, { baseMs: 100, jitter: false }), 400);
  assert.equal(backoffDelay(1, { baseMs: -5, jitter: false }), 0);
});
