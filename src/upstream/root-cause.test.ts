// Root causes from real failures on loopback: a refused connection, TLS spoken to a plain HTTP
// server, an HTTP status, and the same wrapped in an open circuit and a sync failure.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { request } from "undici";
import {
  SyncFailedError,
  UpstreamCircuitOpenError,
  UpstreamNetworkError,
  UpstreamStatusError,
} from "../errors.js";
import { describeFailure, rootCause } from "./root-cause.js";

async function failureOf(url: string): Promise<unknown> {
  try {
    const response = await request(url);
    await response.body.dump();
  } catch (error) {
    return error;
  }
  assert.fail(`${url} answered`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("a refused connection is named, with the URL, through every wrapper", async () => {
  const url = `http://127.0.0.1:${await freePort()}/simple/torch/`;
  const network = new UpstreamNetworkError(url, await failureOf(url));
  assert.deepEqual(rootCause(network), {
    kind: "refused",
    code: "ECONNREFUSED",
    summary: `connection refused (ECONNREFUSED) for ${url}`,
  });
  const circuit = new UpstreamCircuitOpenError("127.0.0.1", Date.now() + 60_000, network.cause, url);
  assert.match(
    describeFailure(circuit),
    new RegExp(`^connection refused \\(ECONNREFUSED\\) for ${url} — .*not retried until`),
  );
  const sync = new SyncFailedError("pytorch", "1 of 3 files failed", circuit);
  assert.equal(rootCause(sync)?.kind, "refused");
});

test("TLS spoken to a plain HTTP server is a TLS error", async () => {
  const server = createServer((_req, res) => res.end("plain"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/simple/`;
    const cause = rootCause(new UpstreamNetworkError(url, await failureOf(url)));
    assert.equal(cause?.kind, "tls");
    assert.match(cause?.summary ?? "", /^TLS error: [^\n]+ \((ERR_SSL_[A-Z_]+|EPROTO)\) for https:/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("DNS failures, HTTP statuses and credentials refused are told apart; other errors have no root cause", () => {
  // The shape Node's dns module gives a failed lookup (no resolver is asked in tests).
  const dns = Object.assign(new Error("getaddrinfo ENOTFOUND download.example"), {
    code: "ENOTFOUND",
    hostname: "download.example",
  });
  assert.equal(
    rootCause(new UpstreamNetworkError("https://download.example/whl/", dns))?.summary,
    "DNS lookup failed for download.example (ENOTFOUND) for https://download.example/whl/",
  );
  assert.equal(
    rootCause(new UpstreamStatusError("https://u:p@x.org/simple/", 503))?.summary,
    "HTTP 503 for https://x.org/simple/",
  );
  assert.match(
    rootCause(new UpstreamStatusError("https://x.org/simple/", 401))?.summary ?? "",
    /username_env/,
  );
  assert.equal(rootCause(new Error("disk full")), undefined);
  assert.equal(describeFailure(new Error("disk full")), "disk full");
});
