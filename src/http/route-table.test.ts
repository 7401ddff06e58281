import assert from "node:assert/strict";
import { test } from "node:test";
import { RoutePatternError, RouteTable } from "./route-table.js";

test("route table: literal, named param and *rest tail", () => {
  const table = new RouteTable<string>()
    .add(["GET", "HEAD"], "/", "root")
    .add(["GET", "HEAD"], "/status/:mirror", "status")
    .add(["GET", "HEAD"], "/:mirror/*rest", "mirror");
  assert.deepEqual(table.find("GET", "/"), { handler: "root", params: {}, pattern: "/" });
  assert.deepEqual(table.find("HEAD", "/status/pytorch"), {
    handler: "status",
    params: { mirror: "pytorch" },
    pattern: "/status/:mirror",
  });
  assert.deepEqual(table.find("GET", "/pytorch/whl/cu121/torch/"), {
    handler: "mirror",
    params: { mirror: "pytorch", rest: "whl/cu121/torch/" },
    pattern: "/:mirror/*rest",
  });
  // The tail may be empty; a missing segment before it may not.
  assert.deepEqual(table.find("GET", "/pytorch/"), {
    handler: "mirror",
    params: { mirror: "pytorch", rest: "" },
    pattern: "/:mirror/*rest",
  });
  assert.equal(table.find("GET", "/status"), undefined);
});

test("route table: literals win over params, params over tails, whatever the order of registration", () => {
  const table = new RouteTable<string>()
    .add("GET", "/:mirror/*rest", "tail")
    .add("GET", "/:mirror", "param")
    .add("GET", "/healthz", "literal");
  assert.equal((table.find("GET", "/healthz") as { handler: string }).handler, "literal");
  assert.equal((table.find("GET", "/pytorch") as { handler: string }).handler, "param");
  assert.equal((table.find("GET", "/pytorch/x") as { handler: string }).handler, "tail");
});

test("route table: a path matched for another method reports the allowed methods", () => {
  const table = new RouteTable<string>().add(["GET", "HEAD"], "/metrics", "metrics");
  assert.deepEqual(table.find("POST", "/metrics"), { allowed: ["GET", "HEAD"] });
  assert.equal(table.find("POST", "/nothing-here"), undefined);
});

test("route table: an encoded slash stays inside its segment", () => {
  const table = new RouteTable<string>().add("GET", "/help/:mirror", "help");
  assert.deepEqual(table.find("GET", "/help/a%2Fb"), {
    handler: "help",
    params: { mirror: "a%2Fb" },
    pattern: "/help/:mirror",
  });
  assert.equal(table.find("GET", "/help/a/b"), undefined);
});

test("route table: OCI-style patterns fit (name with slashes before a literal needs its own parsing)", () => {
  const table = new RouteTable<string>().add(["GET", "HEAD"], "/v2/*rest", "oci");
  assert.deepEqual(table.find("GET", "/v2/library/ubuntu/manifests/24.04"), {
    handler: "oci",
    params: { rest: "library/ubuntu/manifests/24.04" },
    pattern: "/v2/*rest",
  });
});

test("route table: bad patterns are refused at registration", () => {
  const table = new RouteTable<string>();
  assert.throws(() => table.add("GET", "no-slash", "x"), RoutePatternError);
  assert.throws(() => table.add("GET", "/*rest/more", "x"), /must be the last segment/);
  assert.throws(() => table.add("GET", "/:a/:a", "x"), /twice/);
  assert.throws(() => table.add("GET", "/:bad-name", "x"), /bad parameter/);
});
