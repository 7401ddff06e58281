// The registry client against small loopback servers, for what docker-registry 2.8 cannot show:
// spec tag pagination, blob redirects to another host, 429, Basic auth, a server that hangs, and
// the mirror's upstream client it sends through (its breaker, its host policy).
// The real-registry behaviour is in test/oci/registry-client.integration.test.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import {
  NotAllowedHostError,
  UpstreamCircuitOpenError,
  UpstreamStatusError,
  UpstreamTimeoutError,
} from "../errors.js";
import { UpstreamClient } from "../upstream/http-client.js";
import { RegistryClient, type RegistryClientOptions } from "./registry-client.js";
import { OciError } from "./registry-errors.js";

const servers: Server[] = [];
const clients: UpstreamClient[] = [];

after(async () => {
  for (const c of clients) await c.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The mirror's upstream client as app.ts builds it for an OCI mirror. */
function upstreamClient(baseUrl: string, options: { timeoutMs?: number; maxFails?: number } = {}) {
  const http = new UpstreamClient({
    allowedHosts: [new URL(baseUrl).host],
    timeoutMs: options.timeoutMs ?? 30_000,
    retries: 0,
    backoffMs: 10,
    maxFails: options.maxFails ?? 5,
    failTimeoutMs: 60_000,
    hostPolicy: "follow-upstream",
  });
  clients.push(http);
  return http;
}

function client(
  options: Omit<RegistryClientOptions, "http"> & { timeoutMs?: number; http?: UpstreamClient },
): RegistryClient {
  const { timeoutMs, http, ...rest } = options;
  return new RegistryClient({
    ...rest,
    http: http ?? upstreamClient(options.baseUrl, timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

const BLOB = Buffer.from("layer bytes ".repeat(1000));
const BLOB_DIGEST = `sha256:${createHash("sha256").update(BLOB).digest("hex")}`;
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: BLOB_DIGEST, size: BLOB.length },
    layers: [],
  }),
);
const MANIFEST_DIGEST = `sha256:${createHash("sha256").update(MANIFEST).digest("hex")}`;

test("tag lists follow the Link header with n and last until the last page", async () => {
  const tags = Array.from({ length: 7 }, (_, i) => `t${i}`);
  const seen: string[] = [];
  const { url } = await serve((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    seen.push(u.search);
    const n = Number(u.searchParams.get("n") ?? 100);
    const last = u.searchParams.get("last");
    const from = last === null ? 0 : tags.indexOf(last) + 1;
    const page = tags.slice(from, from + n);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (from + n < tags.length)
      headers.link = `</v2/org/app/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
    res.writeHead(200, headers);
    res.end(JSON.stringify({ name: "org/app", tags: page }));
  });
  const c = client({ baseUrl: url });
  const first = await c.listTags("org/app", { n: 3 });
  assert.deepEqual(first, { name: "org/app", tags: ["t0", "t1", "t2"], nextLast: "t2" });
  assert.deepEqual(await c.listAllTags("org/app", 3), tags);
  assert.deepEqual(seen.slice(1), ["?n=3", "?n=3&last=t2", "?n=3&last=t5"]);
});

test("a blob redirect to another host is followed without the Authorization header", async () => {
  const cdnSaw: (string | undefined)[] = [];
  const cdn = await serve((req, res) => {
    cdnSaw.push(req.headers.authorization);
    res.writeHead(200, { "content-length": String(BLOB.length) });
    res.end(BLOB);
  });
  const registrySaw: (string | undefined)[] = [];
  const registry = await serve((req, res) => {
    registrySaw.push(req.headers.authorization);
    if (req.headers.authorization !== `Basic ${Buffer.from("u:p").toString("base64")}`) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="reg"' });
      res.end();
      return;
    }
    res.writeHead(307, { location: `${cdn.url}/signed/blob?sig=secret-signature` });
    res.end();
  });
  const c = client({ baseUrl: registry.url, credentials: { username: "u", password: "p" } });
  const blob = await c.getBlob("org/app", BLOB_DIGEST);
  const chunks: Buffer[] = [];
  for await (const chunk of blob.body) chunks.push(chunk as Buffer);
  assert.deepEqual(Buffer.concat(chunks), BLOB);
  assert.deepEqual(cdnSaw, [undefined], "the storage host never sees the registry credentials");
  assert.equal(registrySaw.length, 2);
  assert.equal(blob.servedFrom, `${cdn.url}/signed/blob`, "no signed query string in what is reported");
});

test("429 becomes TOOMANYREQUESTS carrying Retry-After", async () => {
  const { url } = await serve((_req, res) => {
    res.writeHead(429, { "retry-after": "42", "content-type": "application/json" });
    res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit"}]}');
  });
  await assert.rejects(client({ baseUrl: url }).getManifest("library/alpine", "3"), (e: unknown) => {
    assert.ok(e instanceof OciError);
    assert.equal(e.ociCode, "TOOMANYREQUESTS");
    assert.equal(e.status, 429);
    assert.equal(e.retryAfterSeconds, 42);
    return true;
  });
});

test("Basic auth: no credentials and wrong credentials are UNAUTHORIZED without the password", async () => {
  const good = `Basic ${Buffer.from("user:right-pass").toString("base64")}`;
  const { url } = await serve((req, res) => {
    if (req.headers.authorization !== good) {
      res.writeHead(401, {
        "www-authenticate": 'Basic realm="Registry Realm"',
        "content-type": "application/json",
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    res.writeHead(200, {
      "content-type": "application/vnd.oci.image.manifest.v1+json",
      "docker-content-digest": MANIFEST_DIGEST,
    });
    res.end(MANIFEST);
  });
  const ok = await client({
    baseUrl: url,
    credentials: { username: "user", password: "right-pass" },
  }).getManifest("a/b", "v1");
  assert.equal(ok.digest, MANIFEST_DIGEST);
  await assert.rejects(
    client({ baseUrl: url }).getManifest("a/b", "v1"),
    (e: unknown) => e instanceof OciError && /requires credentials/.test(e.message),
  );
  await assert.rejects(
    client({ baseUrl: url, credentials: { username: "user", password: "Wrong-Pass-77" } }).getManifest(
      "a/b",
      "v1",
    ),
    (e: unknown) => {
      assert.ok(e instanceof OciError && e.ociCode === "UNAUTHORIZED");
      assert.match(e.message, /refused the configured credentials/);
      assert.ok(!`${e.message}${e.stack}${e.hint}`.includes("Wrong-Pass-77"));
      return true;
    },
  );
});

test("a manifest whose bytes do not match Docker-Content-Digest is refused; an oversized one too", async () => {
  const { url } = await serve((req, res) => {
    if (req.url?.includes("/big")) {
      res.writeHead(200, {
        "content-type": "application/vnd.oci.image.manifest.v1+json",
        "content-length": String(5 * 1024 * 1024),
      });
      res.end(Buffer.alloc(5 * 1024 * 1024, 0x20));
      return;
    }
    res.writeHead(200, {
      "content-type": "application/vnd.oci.image.manifest.v1+json",
      "docker-content-digest": `sha256:${"0".repeat(64)}`,
    });
    res.end(MANIFEST);
  });
  const c = client({ baseUrl: url });
  await assert.rejects(
    c.getManifest("a/b", "v1"),
    (e: unknown) => e instanceof OciError && e.ociCode === "DIGEST_INVALID" && e.status === 502,
  );
  await assert.rejects(
    c.getManifest("a/big", "v1"),
    (e: unknown) => e instanceof OciError && /4 MiB/.test(e.message),
  );
  await assert.rejects(
    c.getManifest("A/B", "v1"),
    (e: unknown) => e instanceof OciError && e.ociCode === "NAME_INVALID",
  );
});

test("a registry that never answers is abandoned at the timeout and the connection closed", async () => {
  let closed!: () => void;
  const socketClosed = new Promise<void>((resolve) => {
    closed = resolve;
  });
  const { url } = await serve((req) => {
    req.socket.once("close", () => closed());
  });
  const started = Date.now();
  await assert.rejects(
    client({ baseUrl: url, timeoutMs: 300 }).getManifest("a/b", "v1"),
    UpstreamTimeoutError,
  );
  assert.ok(Date.now() - started < 5000);
  await socketClosed;
});

test("a caller's AbortSignal aborts the request", async () => {
  const { url } = await serve(() => {});
  const controller = new AbortController();
  const pending = client({ baseUrl: url, timeoutMs: 60_000 }).getManifest("a/b", "v1", {
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(pending, (e: unknown) => (e as Error).name === "AbortError");
});

test("credentials in the registry URL are refused", () => {
  assert.throws(
    () =>
      new RegistryClient({
        baseUrl: "https://user:pass@registry.example",
        http: upstreamClient("https://registry.example"),
      }),
    (e: unknown) => {
      assert.ok(e instanceof OciError);
      assert.ok(!e.message.includes("pass@"));
      return true;
    },
  );
});

test("a token server answer without a token is a clear UNAUTHORIZED, and the next request asks again", async () => {
  let asked = 0;
  const tokens = await serve((_req, res) => {
    asked++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(asked === 1 ? '{"expires_in":60}' : '{"token":"t2"}');
  });
  const { url } = await serve((req, res) => {
    if (req.headers.authorization !== "Bearer t2") {
      res.writeHead(401, { "www-authenticate": `Bearer realm="${tokens.url}/token",service="reg"` });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
    res.end(MANIFEST);
  });
  const c = client({ baseUrl: url });
  await assert.rejects(
    c.getManifest("a/b", "v1"),
    (e: unknown) => e instanceof OciError && /without a token/.test(e.message),
  );
  assert.equal((await c.getManifest("a/b", "v1")).digest, MANIFEST_DIGEST);
  assert.equal(asked, 2);
});

test("a Bearer token goes to the registry only: not to the storage host a blob redirects to", async () => {
  const cdnSaw: (string | undefined)[] = [];
  const cdn = await serve((req, res) => {
    cdnSaw.push(req.headers.authorization);
    res.writeHead(200, { "content-length": String(BLOB.length) });
    res.end(BLOB);
  });
  // The token server is on a host of its own, reached because the registry named it.
  const tokens = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"token":"tok-Secret-41","expires_in":300}');
  });
  const registrySaw: (string | undefined)[] = [];
  const registry = await serve((req, res) => {
    registrySaw.push(req.headers.authorization);
    if (req.headers.authorization !== "Bearer tok-Secret-41") {
      res.writeHead(401, { "www-authenticate": `Bearer realm="${tokens.url}/token",service="reg"` });
      res.end();
      return;
    }
    res.writeHead(307, { location: `${cdn.url}/signed/blob?sig=secret-signature` });
    res.end();
  });
  const http = upstreamClient(registry.url);
  const c = client({ baseUrl: registry.url, http });
  const blob = await c.getBlob("org/app", BLOB_DIGEST);
  const chunks: Buffer[] = [];
  for await (const chunk of blob.body) chunks.push(chunk as Buffer);
  assert.deepEqual(Buffer.concat(chunks), BLOB);
  assert.deepEqual(registrySaw, [undefined, "Bearer tok-Secret-41"], "the registry got the token");
  assert.deepEqual(cdnSaw, [undefined], "the storage host never sees it");
  assert.equal(http.requestCount, 4, "challenge, token, retry, storage: every request counted");
});

test("the mirror's breaker opens after max_fails 5xx answers and then fails fast without a request", async () => {
  let hits = 0;
  const { url } = await serve((_req, res) => {
    hits++;
    res.writeHead(503, { "content-type": "application/json" });
    res.end('{"errors":[{"code":"UNAVAILABLE","message":"down"}]}');
  });
  const http = upstreamClient(url, { maxFails: 3 });
  const c = client({ baseUrl: url, http });
  for (let i = 0; i < 3; i++)
    await assert.rejects(c.getManifest("a/b", "v1"), (e: unknown) => {
      assert.ok(e instanceof UpstreamStatusError, String(e));
      assert.equal(e.upstreamStatus, 503);
      return true;
    });
  assert.equal(http.isCircuitOpen(url), true);
  for (const attempt of [
    () => c.getManifest("a/b", "v1"),
    () => c.headManifest("a/b", "v1"),
    () => c.getBlob("a/b", BLOB_DIGEST),
  ])
    await assert.rejects(attempt(), (e: unknown) => {
      assert.ok(e instanceof UpstreamCircuitOpenError, String(e));
      assert.equal(e.code, "FM_ERR_UPSTREAM_CIRCUIT_OPEN");
      assert.match(e.message, /HTTP 503/, "names the failure that opened it");
      return true;
    });
  assert.equal(hits, 3, "nothing sent while the circuit is open");
});

test("401 challenges and a token server's refusal are answers, not failures: the breaker stays closed", async () => {
  const tokens = await serve((req, res) => {
    if (req.url?.includes("forbidden")) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"details":"no"}');
      return;
    }
    const scope = new URL(req.url ?? "/", "http://x").searchParams.get("scope");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: `t-${scope}` }));
  });
  const { url } = await serve((req, res) => {
    const name = /^\/v2\/(.+)\/manifests\//.exec(req.url ?? "")?.[1] ?? "";
    if (req.headers.authorization !== `Bearer t-repository:${name}:pull`) {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="${tokens.url}/token",service="reg",scope="repository:${name}:pull"`,
      });
      res.end();
      return;
    }
    res.writeHead(200, {
      "content-type": "application/vnd.oci.image.manifest.v1+json",
      "docker-content-digest": MANIFEST_DIGEST,
    });
    res.end(MANIFEST);
  });
  // max_fails 1: a single counted failure would open the breaker.
  const http = upstreamClient(url, { maxFails: 1 });
  const c = client({ baseUrl: url, http });
  for (const name of ["a/one", "a/two", "a/three"])
    assert.equal((await c.getManifest(name, "v1")).digest, MANIFEST_DIGEST, name);
  await assert.rejects(
    c.getManifest("a/forbidden", "v1"),
    (e: unknown) => e instanceof OciError && e.ociCode === "UNAUTHORIZED",
  );
  assert.equal(http.isCircuitOpen(url), false);
  assert.equal(http.isCircuitOpen(tokens.url), false);
  assert.equal((await c.getManifest("a/four", "v1")).digest, MANIFEST_DIGEST);
});

test("a redirect to a non-http(s) URL is refused", async () => {
  const { url } = await serve((_req, res) => {
    res.writeHead(307, { location: "file:///etc/passwd" });
    res.end();
  });
  await assert.rejects(
    client({ baseUrl: url }).getBlob("a/b", BLOB_DIGEST),
    (e: unknown) => e instanceof NotAllowedHostError && /only http\(s\)/.test(e.message),
  );
});
