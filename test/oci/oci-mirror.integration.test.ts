// freshmirror as a registry mirror, end to end with real parts: CNCF distribution's docker-registry
// as upstreams (one open, one behind token auth; filled by skopeo from OCI layouts built here),
// `freshmirror serve`, and skopeo and plain HTTP clients pulling through it. A counting front
// proxy (front-proxy.ts) between freshmirror and the open registry counts upstream requests and
// plays an upstream that is down, rate limits or lies; a second one plays an upstream failing
// often enough to open a mirror's circuit breaker (max_fails).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { MANIFEST_ACCEPT } from "../../src/oci/media-types.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { realWorldFixture } from "../helpers/repo-root.js";
import { until } from "../helpers/until.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { type FrontProxy, startFrontProxy } from "./front-proxy.js";
import { type BuiltLayout, buildOciLayout } from "./oci-layout-builder.js";
import { skopeoInspectRaw, skopeoPushLayout } from "./skopeo.js";
import { skopeoPull } from "./skopeo-pull.js";
import { startTokenServer, type TokenServer } from "./token-server.js";

const skip = dockerRegistrySkipReason();
const BIG = 64 * 1024 * 1024 + 4321;
const MEDIUM = 5 * 1024 * 1024 + 17;
const PASSWORD = "pw-oci-core-never-shown";
const TAG_TTL_MS = 1000;
/** regclient's test repository (shared/fixtures/real-world/oci): what its tag v3 names. */
const REGCLIENT_V3 = "sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d";

async function sha256Of(body: AsyncIterable<Buffer>): Promise<{ digest: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, bytes };
}

/** A request with its path sent exactly as given (undici would normalize `..`). */
function rawGet(base: string, path: string, method = "GET"): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function errorCode(body: string): string | undefined {
  return (JSON.parse(body) as { errors?: { code: string }[] }).errors?.[0]?.code;
}

describe("OCI pull-through against docker-registry", { skip, timeout: 900_000 }, () => {
  let dir: string;
  let upstream: DockerRegistry;
  let tokens: TokenServer;
  let secured: DockerRegistry;
  let front: FrontProxy;
  let securedFront: FrontProxy;
  let flakyFront: FrontProxy;
  let multi: BuiltLayout;
  let big: BuiltLayout;
  let lie: BuiltLayout;
  let cdnImage: BuiltLayout;
  let pushed: string;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let host: string;

  const manifest = (path: string, headers: Record<string, string> = {}) =>
    request(`${server.url}${path}`, { headers: { accept: MANIFEST_ACCEPT, ...headers } });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-oci-mirror-"));
    upstream = await startDockerRegistry({ dir: join(dir, "upstream") });
    tokens = await startTokenServer({
      dir,
      users: { alice: PASSWORD },
      anonymousPull: () => false,
      missing: (name) => name === "ghost/nothing",
    });
    secured = await startDockerRegistry({ dir: join(dir, "secured"), auth: tokens });
    front = await startFrontProxy(upstream.url);
    securedFront = await startFrontProxy(secured.url);
    flakyFront = await startFrontProxy(upstream.url);
    multi = await buildOciLayout({
      dir: join(dir, "multi"),
      tag: "v1",
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ],
      layerSizes: [200_000, 3000],
    });
    // One layer of 64 MiB, written to disk as a stream by the builder.
    big = await buildOciLayout({
      dir: join(dir, "big"),
      tag: "v1",
      platforms: [{ os: "linux", architecture: "amd64" }],
      layerSizes: [BIG, MEDIUM],
      gzip: false,
      seed: "big",
    });
    lie = await buildOciLayout({
      dir: join(dir, "lie"),
      tag: "v1",
      platforms: [{ os: "linux", architecture: "amd64" }],
      layerSizes: [40_000],
      seed: "lie",
    });
    // Blobs no other test fetches (the store is shared by content: a blob fetched once is a HIT everywhere).
    cdnImage = await buildOciLayout({
      dir: join(dir, "cdn"),
      tag: "v1",
      platforms: [{ os: "linux", architecture: "amd64" }],
      layerSizes: [50_000],
      seed: "cdn",
    });
    pushed = await skopeoPushLayout(multi.dir, "v1", upstream.host, "team/app", "v1", { dir });
    await skopeoPushLayout(multi.dir, "v1", upstream.host, "team/app", "2.9.0-cuda12.8-cudnn9-runtime", {
      dir,
    });
    await skopeoPushLayout(multi.dir, "v1", upstream.host, "team/app", "moving", { dir });
    await skopeoPushLayout(multi.dir, "v1", upstream.host, "library/alpine", "3", { dir });
    await skopeoPushLayout(big.dir, "v1", upstream.host, "team/big", "v1", { dir });
    await skopeoPushLayout(lie.dir, "v1", upstream.host, "team/lie", "v1", { dir });
    await skopeoPushLayout(multi.dir, "v1", secured.host, "team/app", "v1", {
      dir,
      creds: `alice:${PASSWORD}`,
    });
    await skopeoPushLayout(
      realWorldFixture("oci", "regclient-testrepo"),
      "v3",
      upstream.host,
      "regclient/testrepo",
      "v3",
      {
        dir,
      },
    );
    await skopeoPushLayout(cdnImage.dir, "v1", secured.host, "team/cdn", "v1", {
      dir,
      creds: `alice:${PASSWORD}`,
    });
    process.env.FM_OCI_TEST_USER = "alice";
    process.env.FM_OCI_TEST_PASSWORD = PASSWORD;
    ws = createWorkspace({
      mirrors: {
        hub: { type: "oci", upstream: front.url, registry: "docker.io", tag_ttl: `${TAG_TTL_MS}ms` },
        local: { type: "oci", upstream: upstream.url, registry: "registry.example.org" },
        flaky: {
          type: "oci",
          upstream: flakyFront.url,
          registry: "flaky.example.org",
          tag_ttl: `${TAG_TTL_MS}ms`,
          max_fails: 2,
          fail_timeout: "1h",
        },
        private: {
          type: "oci",
          upstream: securedFront.url,
          registry: "private.example.org",
          username_env: "FM_OCI_TEST_USER",
          password_env: "FM_OCI_TEST_PASSWORD",
        },
      },
    });
    server = await ws.serve();
    host = new URL(server.url).host;
  });

  after(async () => {
    delete process.env.FM_OCI_TEST_USER;
    delete process.env.FM_OCI_TEST_PASSWORD;
    await ws?.cleanup();
    await front?.close();
    await securedFront?.close();
    await flakyFront?.close();
    await upstream?.stop();
    await secured?.stop();
    await tokens?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("GET /v2/ answers 200 {} with the registry API version; the status page lists OCI mirrors", async () => {
    const res = await request(`${server.url}/v2/`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["docker-distribution-api-version"], "registry/2.0");
    assert.deepEqual(await res.body.json(), {});
    const status = await request(`${server.url}/`);
    assert.equal(status.statusCode, 200);
    assert.match(await status.body.text(), /hub/);
  });

  test("skopeo copies a multi-platform image through /v2/<mirror>/..., digests unchanged", async () => {
    const digest = await skopeoPull(`${host}/local/team/app:v1`, join(dir, "pulled-local"), "v1", { dir });
    assert.equal(digest, pushed);
    assert.equal(digest, multi.digest);
    const raw = await skopeoInspectRaw(host, "local/team/app:v1", { dir });
    assert.equal(raw.digest, pushed);
    // Each platform's manifest too, by digest.
    for (const image of multi.images) {
      const one = await skopeoInspectRaw(host, `local/team/app@${image.manifestDigest}`, { dir });
      assert.equal(one.digest, image.manifestDigest);
    }
  });

  test("a real-world image (regclient's test repository) pulls through with its digests", async () => {
    const digest = await skopeoPull(
      `${host}/hub/regclient/testrepo:v3`,
      join(dir, "pulled-regclient"),
      "v3",
      {
        dir,
      },
    );
    assert.equal(digest, REGCLIENT_V3);
    const raw = await skopeoInspectRaw(host, "hub/regclient/testrepo:v3", { dir });
    assert.equal(raw.digest, REGCLIENT_V3);
  });

  test("without a mirror name or ns, requests go to the docker.io mirror, official images under library/", async () => {
    const digest = await skopeoPull(`${host}/alpine:3`, join(dir, "pulled-alpine"), "3", { dir });
    assert.equal(digest, multi.digest);
    assert.ok(front.count("GET", /^\/v2\/library\/alpine\/manifests\/3$/) >= 1, front.log.join("\n"));
  });

  test("?ns=<registry> picks the mirror of that registry and answers with OCI-Namespace", async () => {
    const res = await manifest("/v2/team/app/manifests/v1?ns=registry.example.org");
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["oci-namespace"], "registry.example.org");
    assert.equal(res.headers["docker-content-digest"], pushed);
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.equal(`sha256:${createHash("sha256").update(body).digest("hex")}`, pushed);
    assert.equal(res.headers["content-type"], "application/vnd.oci.image.index.v1+json");
    assert.equal(res.headers.etag, `"${pushed}"`);
    const head = await request(`${server.url}/v2/team/app/manifests/v1?ns=registry.example.org`, {
      method: "HEAD",
      headers: { accept: MANIFEST_ACCEPT },
    });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers["docker-content-digest"], pushed);
    assert.equal(Number(head.headers["content-length"]), body.length);
    assert.equal((await head.body.arrayBuffer()).byteLength, 0);
    const unknown = await manifest("/v2/team/app/manifests/v1?ns=quay.io");
    assert.equal(unknown.statusCode, 404);
    assert.equal(errorCode(await unknown.body.text()), "NAME_UNKNOWN");
  });

  test("8 concurrent GETs of a cold 64 MiB blob: one upstream GET, every client gets every byte", async () => {
    const layer = big.images[0]?.layers[0];
    assert.ok(layer && layer.size >= 64 * 1024 * 1024);
    const before = front.count("GET", new RegExp(`/blobs/${layer.digest}$`));
    assert.equal(before, 0);
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await request(`${server.url}/v2/team/big/blobs/${layer.digest}`);
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers["docker-content-digest"], layer.digest);
        const got = await sha256Of(res.body as AsyncIterable<Buffer>);
        return { ...got, cache: res.headers["x-cache"] };
      }),
    );
    for (const r of results) assert.deepEqual([r.digest, r.bytes], [layer.digest, layer.size]);
    assert.equal(front.count("GET", new RegExp(`/blobs/${layer.digest}$`)), 1, front.log.join("\n"));
    assert.equal(results.filter((r) => r.cache === "MISS").length, 1);
    // Clients get their last bytes once the digest is verified, while the blob is still being made
    // durable: a request in that window joins the finished download (COALESCED). Once stored, a HIT;
    // never a second upstream request.
    const again = await until(async () => {
      const res = await request(`${server.url}/v2/team/big/blobs/${layer.digest}`, { method: "HEAD" });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      assert.ok(
        ["HIT", "COALESCED"].includes(String(res.headers["x-cache"])),
        String(res.headers["x-cache"]),
      );
      return res.headers["x-cache"] === "HIT" ? res : undefined;
    }, "the blob to be stored (X-Cache: HIT)");
    assert.equal(Number(again.headers["content-length"]), layer.size);
    assert.equal(front.count("GET", new RegExp(`/blobs/${layer.digest}$`)), 1);
  });

  test("a Range request on a cold blob gets 206 with exactly those bytes; past the end, 416", async () => {
    const layer = big.images[0]?.layers[1];
    assert.ok(layer);
    const source = await readFile(join(big.dir, "blobs", "sha256", layer.digest.slice(7)));
    const res = await request(`${server.url}/v2/team/big/blobs/${layer.digest}`, {
      headers: { range: "bytes=1000000-1000999" },
    });
    assert.equal(res.statusCode, 206);
    assert.equal(res.headers["content-range"], `bytes 1000000-1000999/${layer.size}`);
    const got = Buffer.from(await res.body.arrayBuffer());
    assert.ok(got.equals(source.subarray(1_000_000, 1_001_000)));
    // The download went on for the whole blob; once stored, a range past the end is 416.
    for (let i = 0; i < 100; i++) {
      const head = await request(`${server.url}/v2/team/big/blobs/${layer.digest}`, { method: "HEAD" });
      await head.body.dump();
      if (head.headers["x-cache"] === "HIT") break;
      await sleep(100);
    }
    const past = await request(`${server.url}/v2/team/big/blobs/${layer.digest}`, {
      headers: { range: `bytes=${layer.size + 10}-` },
    });
    assert.equal(past.statusCode, 416);
    await past.body.dump();
    assert.equal(front.count("GET", new RegExp(`/blobs/${layer.digest}$`)), 1);
  });

  test("a known tag is served stale (with a Warning) while upstream is down or rate limits; an unknown one is 429", async () => {
    const first = await manifest("/v2/team/app/manifests/v1");
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers["docker-content-digest"], pushed);
    await first.body.dump();
    await sleep(TAG_TTL_MS + 300);
    try {
      front.mode = { kind: "down" };
      const down = await manifest("/v2/team/app/manifests/v1");
      assert.equal(down.statusCode, 200);
      assert.equal(down.headers["docker-content-digest"], pushed);
      assert.equal(down.headers.warning, '110 - "Response is Stale"');
      await down.body.dump();
      front.mode = { kind: "ratelimit", retryAfter: "17" };
      const limited = await manifest("/v2/team/app/manifests/v1");
      assert.equal(limited.statusCode, 200);
      assert.equal(limited.headers.warning, '110 - "Response is Stale"');
      await limited.body.dump();
      const cold = await manifest("/v2/team/app/manifests/never-fetched");
      assert.equal(cold.statusCode, 429);
      assert.equal(cold.headers["retry-after"], "17");
      assert.equal(errorCode(await cold.body.text()), "TOOMANYREQUESTS");
    } finally {
      front.mode = { kind: "pass" };
    }
    // Upstream back: revalidated with a HEAD, same digest, no warning.
    const back = await manifest("/v2/team/app/manifests/v1");
    assert.equal(back.statusCode, 200);
    assert.equal(back.headers.warning, undefined);
    await back.body.dump();
  });

  test("max_fails applies to an OCI mirror: once its breaker is open, no request goes upstream, a known tag is served stale, an unknown one is 503 with Retry-After", async () => {
    const path = "/v2/flaky/team/app/manifests/v1";
    const first = await manifest(path);
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers["docker-content-digest"], pushed);
    await first.body.dump();
    await sleep(TAG_TTL_MS + 300);
    flakyFront.mode = { kind: "down" };
    // max_fails: 2 failed revalidations open the breaker; each answer is the cached tag.
    for (let i = 0; i < 2; i++) {
      const stale = await manifest(path);
      assert.equal(stale.statusCode, 200);
      assert.equal(stale.headers.warning, '110 - "Response is Stale"');
      await stale.body.dump();
    }
    const sent = flakyFront.log.length;
    const open = await manifest(path);
    assert.equal(open.statusCode, 200);
    assert.equal(open.headers["docker-content-digest"], pushed);
    assert.equal(open.headers.warning, '110 - "Response is Stale"');
    await open.body.dump();
    const cold = await manifest("/v2/flaky/team/app/manifests/never-fetched");
    assert.equal(cold.statusCode, 503);
    assert.ok(Number(cold.headers["retry-after"]) > 60, "until fail_timeout (1h) ends");
    const body = await cold.body.text();
    assert.equal(errorCode(body), "UNKNOWN");
    assert.match(body, /failed repeatedly/);
    assert.equal(flakyFront.log.length, sent, "the open breaker sent nothing upstream");
    flakyFront.mode = { kind: "pass" };
  });

  test("tags matching immutable_tags are never revalidated; others are, and follow a moved tag", async () => {
    const cuda = "/v2/team/app/manifests/2.9.0-cuda12.8-cudnn9-runtime";
    const first = await manifest(cuda);
    assert.equal(first.statusCode, 200);
    await first.body.dump();
    await sleep(TAG_TTL_MS + 300);
    const heads = front.count("HEAD", /\/manifests\//);
    const gets = front.count("GET", /\/manifests\//);
    const again = await manifest(cuda);
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers["x-cache"], "HIT");
    await again.body.dump();
    assert.equal(front.count("HEAD", /\/manifests\//), heads);
    assert.equal(front.count("GET", /\/manifests\//), gets);

    const moving = await manifest("/v2/team/app/manifests/moving");
    assert.equal(moving.headers["docker-content-digest"], multi.digest);
    await moving.body.dump();
    await skopeoPushLayout(big.dir, "v1", upstream.host, "team/app", "moving", { dir });
    await sleep(TAG_TTL_MS + 300);
    const moved = await manifest("/v2/team/app/manifests/moving");
    assert.equal(moved.statusCode, 200);
    assert.equal(moved.headers["docker-content-digest"], big.digest);
    assert.equal(moved.headers["x-cache"], "MISS");
    await moved.body.dump();
  });

  test("bad names, tags, digests and hostile paths get 400 with the spec code; pushes 405 UNSUPPORTED", async () => {
    const cases: [string, string][] = [
      ["/v2/Team/app/manifests/v1", "NAME_INVALID"],
      ["/v2/team/../../etc/manifests/v1", "NAME_INVALID"],
      ["/v2/team%2Fapp/manifests/v1", "NAME_INVALID"],
      ["/v2/local/team/app/manifests/..%2F..%2Fetc", "NAME_INVALID"],
      ["/v2/team/app/manifests/-v1", "TAG_INVALID"],
      ["/v2/team/app/blobs/sha256:abc", "DIGEST_INVALID"],
      ["/v2/team/app/blobs/md5:0123456789abcdef0123456789abcdef", "DIGEST_INVALID"],
      ["/v2/team/app/blobs/../../../../etc/passwd", "NAME_INVALID"],
      ["/v2/team/app/blobs/sha256:..%2F..%2Fetc%2Fpasswd", "NAME_INVALID"],
      ["/v2/team/app/secrets/x", "NAME_INVALID"],
    ];
    for (const [path, code] of cases) {
      const res = await rawGet(server.url, path);
      assert.equal(res.status, 400, `${path}: ${res.body}`);
      assert.equal(errorCode(res.body), code, path);
    }
    for (const method of ["PUT", "POST", "PATCH", "DELETE"]) {
      const res = await rawGet(server.url, "/v2/team/app/manifests/v1", method);
      assert.equal(res.status, 405, method);
      assert.equal(errorCode(res.body), "UNSUPPORTED");
    }
    const upload = await rawGet(server.url, "/v2/team/app/blobs/uploads/", "POST");
    assert.equal(upload.status, 405);
    // What upstream does not have: the spec's 404 codes, quickly (a 404 is not retried).
    const notFound: [string, string][] = [
      [`/v2/local/team/app/blobs/sha256:${"0".repeat(64)}`, "BLOB_UNKNOWN"],
      ["/v2/local/team/app/manifests/no-such-tag", "MANIFEST_UNKNOWN"],
      // distribution 2.8 answers MANIFEST_UNKNOWN for a repository it does not have; passed on.
      ["/v2/local/team/nothing/manifests/v1", "MANIFEST_UNKNOWN"],
    ];
    for (const [path, code] of notFound) {
      const res = await rawGet(server.url, path);
      assert.equal(res.status, 404, `${path}: ${res.body}`);
      assert.equal(errorCode(res.body), code, path);
    }
  });

  test("an upstream answering a manifest with other bytes than its digest: 502, nothing kept", async () => {
    const image = lie.images[0];
    assert.ok(image);
    const liar = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [],
      }),
    );
    try {
      front.mode = { kind: "lie-manifest", bytes: liar };
      const byDigest = await manifest(`/v2/team/lie/manifests/${image.manifestDigest}`);
      assert.equal(byDigest.statusCode, 502);
      assert.equal(errorCode(await byDigest.body.text()), "DIGEST_INVALID");
      // By tag, upstream names the true digest in Docker-Content-Digest: the same check applies.
      const byTag = await manifest("/v2/team/lie/manifests/v1");
      assert.equal(byTag.statusCode, 502);
      assert.equal(errorCode(await byTag.body.text()), "DIGEST_INVALID");
    } finally {
      front.mode = { kind: "pass" };
    }
    try {
      // Over the 4 MiB a registry may refuse: not read past the limit, not kept.
      front.mode = { kind: "lie-manifest", bytes: Buffer.alloc(4 * 1024 * 1024 + 1, 0x20) };
      const huge = await manifest(`/v2/team/lie/manifests/${image.manifestDigest}`);
      assert.equal(huge.statusCode, 502);
      assert.equal(errorCode(await huge.body.text()), "MANIFEST_INVALID");
    } finally {
      front.mode = { kind: "pass" };
    }
    const honest = await manifest(`/v2/team/lie/manifests/${image.manifestDigest}`);
    assert.equal(honest.statusCode, 200);
    assert.equal(honest.headers["x-cache"], "MISS", "nothing was kept from the lying answer");
    assert.equal(honest.headers["docker-content-digest"], image.manifestDigest);
    await honest.body.dump();
  });

  test("a blob whose bytes do not match its digest reaches no client whole and is not kept", async () => {
    const layer = lie.images[0]?.layers[0];
    assert.ok(layer);
    try {
      front.mode = { kind: "lie-blob" };
      const res = await request(`${server.url}/v2/team/lie/blobs/${layer.digest}`);
      if (res.statusCode === 200) {
        await assert.rejects(res.body.arrayBuffer());
      } else {
        assert.equal(res.statusCode, 502);
        await res.body.dump();
      }
    } finally {
      front.mode = { kind: "pass" };
    }
    const res = await request(`${server.url}/v2/team/lie/blobs/${layer.digest}`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["x-cache"], "MISS");
    const got = await sha256Of(res.body as AsyncIterable<Buffer>);
    assert.equal(got.digest, layer.digest);
  });

  test("a token-auth upstream with credentials: skopeo pulls through; a missing repository is NAME_UNKNOWN", async () => {
    const digest = await skopeoPull(`${host}/private/team/app:v1`, join(dir, "pulled-private"), "v1", {
      dir,
    });
    assert.equal(digest, pushed);
    assert.ok(tokens.requests.some((r) => r.account === "alice" && r.hadCredentials && r.status === 200));
    const ghost = await manifest("/v2/private/ghost/nothing/manifests/latest");
    assert.equal(ghost.statusCode, 404);
    assert.equal(errorCode(await ghost.body.text()), "NAME_UNKNOWN");
    assert.ok(!server.output().includes(PASSWORD), "the password never reaches the log");
  });

  test("a blob redirected to a CDN is fetched from there without the registry's Authorization", async () => {
    const layer = cdnImage.images[0]?.layers[0];
    assert.ok(layer);
    const cdnSaw: (string | undefined)[] = [];
    const cdn = createServer((req, res) => {
      cdnSaw.push(req.headers.authorization);
      const hex = /\/blobs\/sha256:([a-f0-9]{64})/.exec(req.url ?? "")?.[1];
      if (!hex) return void res.writeHead(404).end();
      readFile(join(cdnImage.dir, "blobs", "sha256", hex)).then(
        (bytes) => res.writeHead(200, { "content-length": bytes.length }).end(bytes),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => cdn.listen(0, "127.0.0.1", resolve));
    try {
      securedFront.mode = {
        kind: "redirect-blobs",
        to: `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`,
      };
      const res = await request(`${server.url}/v2/private/team/cdn/blobs/${layer.digest}`);
      assert.equal(res.statusCode, 200);
      assert.equal((await sha256Of(res.body as AsyncIterable<Buffer>)).digest, layer.digest);
    } finally {
      securedFront.mode = { kind: "pass" };
      cdn.closeAllConnections();
      await new Promise<void>((resolve) => cdn.close(() => resolve()));
    }
    assert.deepEqual(cdnSaw, [undefined], "the CDN got one request, without Authorization");
    const at = securedFront.log.lastIndexOf(`GET /v2/team/cdn/blobs/${layer.digest}`);
    assert.equal(securedFront.authSchemes[at], "Bearer", "the registry itself got the token");
  });

  test("metrics count cache outcomes per OCI mirror; status, jobs and mirrorz.json list OCI mirrors", async () => {
    const metrics = await (await request(`${server.url}/metrics`)).body.text();
    assert.match(
      metrics,
      /freshmirror_cache_requests_total\{[^}]*mirror="hub"[^}]*result="miss"[^}]*\} [1-9]/,
    );
    assert.match(
      metrics,
      /freshmirror_cache_requests_total\{[^}]*mirror="hub"[^}]*result="coalesced"[^}]*\} [1-9]/,
    );
    assert.match(
      metrics,
      /freshmirror_cache_requests_total\{[^}]*mirror="hub"[^}]*result="hit"[^}]*\} [1-9]/,
    );
    for (const path of ["/jobs", "/mirrorz.json", "/status/hub", "/api/v1/mirrors"]) {
      const res = await request(`${server.url}${path}`);
      assert.equal(res.statusCode, 200, path);
      assert.match(await res.body.text(), /hub/, path);
    }
  });

  test("tags/list is proxied with n, last and a Link to the next page", async () => {
    const page = await request(`${server.url}/v2/local/team/app/tags/list?n=1`);
    assert.equal(page.statusCode, 200);
    const body = (await page.body.json()) as { name: string; tags: string[] };
    assert.equal(body.name, "team/app");
    assert.equal(body.tags.length, 1);
    assert.match(
      String(page.headers.link),
      /^<\/v2\/local\/team\/app\/tags\/list\?n=1&last=[^>]+>; rel="next"$/,
    );
    const all = await request(`${server.url}/v2/local/team/app/tags/list`);
    const every = (await all.body.json()) as { tags: string[] };
    assert.deepEqual(every.tags.sort(), ["2.9.0-cuda12.8-cudnn9-runtime", "moving", "v1"]);
    const link = /last=([^>&]+)/.exec(String(page.headers.link))?.[1];
    const second = await request(`${server.url}/v2/local/team/app/tags/list?n=1&last=${link}`);
    const next = (await second.body.json()) as { tags: string[] };
    assert.equal(next.tags.length, 1);
    assert.notDeepEqual(next.tags, body.tags);
  });
});
