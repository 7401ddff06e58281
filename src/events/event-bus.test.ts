import assert from "node:assert/strict";
import { test } from "node:test";
import { EventBus, type FreshmirrorEvent, resolveEventTypes } from "./event-bus.js";

test("events get monotonic ids and ISO times, and reach every subscriber until it unsubscribes", () => {
  const bus = new EventBus({ now: () => new Date("2025-06-01T12:00:00Z") });
  const seen: FreshmirrorEvent[] = [];
  const unsubscribe = bus.subscribe((e) => {
    seen.push(e);
  });
  const first = bus.emit({ type: "sync.started", mirror: "pytorch", runId: 7 });
  const second = bus.emit({
    type: "release.new",
    mirror: "pytorch",
    project: "torch",
    version: "2.9.1",
    files: [
      { filename: "torch-2.9.1-cp312-none-any.whl", url: "http://m/x.whl", sha256: "a".repeat(64), size: 3 },
    ],
  });
  unsubscribe();
  bus.emit({ type: "sync.failed", mirror: "pytorch", runId: 7, error: "boom" });
  assert.equal(first.id, 1);
  assert.equal(second.id, 2);
  assert.equal(first.time, "2025-06-01T12:00:00.000Z");
  assert.deepEqual(
    seen.map((e) => e.type),
    ["sync.started", "release.new"],
  );
  assert.equal(bus.lastId, 3);
  assert.equal(bus.listenerCount, 0);
});

test("a listener that throws or rejects is reported, never thrown into the emitter, and the others still run", async () => {
  const reported: string[] = [];
  const bus = new EventBus({
    onListenerError: (error, event) => reported.push(`${event.type}: ${(error as Error).message}`),
  });
  let reached = 0;
  bus.subscribe(() => {
    throw new Error("sync throw");
  });
  bus.subscribe(async () => {
    throw new Error("async reject");
  });
  bus.subscribe(() => {
    reached++;
  });
  assert.doesNotThrow(() => bus.emit({ type: "sync.started", mirror: "m", runId: 1 }));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reached, 1);
  assert.deepEqual(reported.sort(), ["sync.started: async reject", "sync.started: sync throw"]);
});

test("recent() keeps the last `capacity` events, oldest first, and filters by sinceId", () => {
  const bus = new EventBus({ capacity: 3, startId: 100 });
  for (let i = 0; i < 5; i++) bus.emit({ type: "sync.started", mirror: `m${i}`, runId: i });
  assert.deepEqual(
    bus.recent().map((e) => e.id),
    [103, 104, 105],
  );
  assert.deepEqual(
    bus.recent(103).map((e) => e.id),
    [104, 105],
  );
  assert.deepEqual(bus.recent(105), []);
});

test("event names resolve aliases, wildcards and exact types; unknown names do not", () => {
  assert.deepEqual(resolveEventTypes("new_version"), ["release.new"]);
  assert.deepEqual(resolveEventTypes("sync.failed"), ["sync.failed"]);
  assert.deepEqual(resolveEventTypes("sync.*"), ["sync.started", "sync.succeeded", "sync.failed"]);
  assert.equal(resolveEventTypes("*")?.length, 5);
  assert.equal(resolveEventTypes("sync.exploded"), undefined);
});
