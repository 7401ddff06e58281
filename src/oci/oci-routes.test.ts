import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FetchTimeoutError,
  NotFoundError,
  TooManyFileResponsesError,
  UpstreamCircuitOpenError,
  UpstreamStatusError,
} from "../errors.js";
import type { OciMirrorConfig } from "./config-schema.js";
import { isUpstreamUnavailable } from "./manifest-pull-through.js";
import { newOciCounters, type OciMirrorEntry, selectMirror, toOciError } from "./oci-routes.js";
import { OciError, ociErrorResponse } from "./registry-errors.js";

function entry(name: string, registry: string): OciMirrorEntry {
  // Routing reads only the name and registry; the client and fetcher are never touched here.
  return {
    config: { name, registry } as OciMirrorConfig,
    client: undefined as never,
    fetcher: undefined as never,
    counters: newOciCounters(),
  };
}

const hub = entry("hub", "docker.io");
const ghcr = entry("ghcr", "ghcr.io");
const mirrors = [hub, ghcr];

function picked(rest: string, ns: string | null = null) {
  const result = selectMirror(mirrors, rest, ns);
  if ("error" in result) return { error: result.error.ociCode };
  return { mirror: result.mirror.config.name, path: result.path, namespace: result.namespace };
}

test("?ns= picks the mirror of that registry, whatever the path starts with", () => {
  assert.deepEqual(picked("org/img/manifests/v1", "ghcr.io"), {
    mirror: "ghcr",
    path: "/v2/org/img/manifests/v1",
    namespace: "ghcr.io",
  });
  assert.deepEqual(picked("ghcr/x/manifests/v1", "docker.io"), {
    mirror: "hub",
    path: "/v2/ghcr/x/manifests/v1",
    namespace: "docker.io",
  });
  assert.deepEqual(picked("x/manifests/v1", "quay.io"), { error: "NAME_UNKNOWN" });
});

test("a first segment naming a mirror reaches it; otherwise the docker.io mirror answers", () => {
  assert.deepEqual(picked("ghcr/org/img/manifests/v1"), {
    mirror: "ghcr",
    path: "/v2/org/img/manifests/v1",
    namespace: undefined,
  });
  // `ghcr/manifests/v1` is repository "ghcr" on Docker Hub: nothing is left for a name after it.
  assert.deepEqual(picked("ghcr/manifests/v1"), {
    mirror: "hub",
    path: "/v2/ghcr/manifests/v1",
    namespace: undefined,
  });
  assert.deepEqual(picked("library/alpine/blobs/sha256:x"), {
    mirror: "hub",
    path: "/v2/library/alpine/blobs/sha256:x",
    namespace: undefined,
  });
  assert.ok(
    "error" in selectMirror([ghcr], "alpine/manifests/3", null),
    "no docker.io mirror to fall back to",
  );
});

test("errors become the spec's codes; an upstream's UNAUTHORIZED is ours (DENIED 403), never a 401", () => {
  const denied = toOciError(new OciError("UNAUTHORIZED", "registry refused the configured credentials"));
  assert.deepEqual([denied.ociCode, denied.status], ["DENIED", 403]);
  const limited = toOciError(new TooManyFileResponsesError(10, 5));
  assert.deepEqual([limited.ociCode, limited.status, limited.retryAfterSeconds], ["TOOMANYREQUESTS", 503, 5]);
  const missing = toOciError(new NotFoundError("/v2/x"));
  assert.deepEqual([missing.ociCode, missing.status], ["NAME_UNKNOWN", 404]);
  const timeout = toOciError(new FetchTimeoutError("layer"));
  assert.equal(timeout.status, 504);
  const bug = toOciError(new Error("boom"));
  assert.equal(bug.status, 500);
  assert.equal(bug.message, "internal error");
  const own = new OciError("BLOB_UNKNOWN", "no such blob");
  assert.equal(toOciError(own), own);
});

test("an open circuit breaker is 503 with Retry-After until fail_timeout ends; opened by 429s, TOOMANYREQUESTS", () => {
  const url = "http://registry.example/v2/a/manifests/1";
  const down = toOciError(
    new UpstreamCircuitOpenError(
      "registry.example",
      Date.now() + 30_000,
      new UpstreamStatusError(url, 503),
      url,
    ),
  );
  assert.equal(down.status, 503);
  assert.ok(
    down.retryAfterSeconds !== undefined && down.retryAfterSeconds > 25 && down.retryAfterSeconds <= 30,
  );
  assert.equal(ociErrorResponse(down).headers["retry-after"], String(down.retryAfterSeconds));
  assert.match(down.message, /failed repeatedly/);
  const limited = toOciError(
    new UpstreamCircuitOpenError(
      "registry.example",
      Date.now() + 10_000,
      new UpstreamStatusError(url, 429),
      url,
    ),
  );
  assert.deepEqual([limited.ociCode, limited.status], ["TOOMANYREQUESTS", 429]);
  assert.ok(limited.retryAfterSeconds !== undefined && limited.retryAfterSeconds <= 10);
  // An upstream that could not be asked: a cached tag may stand in (Warning: 110).
  assert.equal(
    isUpstreamUnavailable(new UpstreamCircuitOpenError("registry.example", Date.now() + 1000)),
    true,
  );
});
