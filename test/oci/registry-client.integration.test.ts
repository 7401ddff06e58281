// The OCI groundwork against a real registry: CNCF distribution's docker-registry, filled by
// skopeo, read back with src/oci/registry-client.ts. Covers manifests by tag and digest, tag
// pagination, a 64 MiB layer streamed whole and by Range, the Docker Hub style token flow,
// wrong credentials and a missing repository, and docker-registry as a pull-through proxy.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { RegistryClient, type RegistryClientOptions } from "../../src/oci/registry-client.js";
import { OciError } from "../../src/oci/registry-errors.js";
import { UpstreamClient } from "../../src/upstream/http-client.js";
import { realWorldFixture } from "../helpers/repo-root.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { type BuiltLayout, buildOciLayout } from "./oci-layout-builder.js";
import { skopeoInspectRaw, skopeoPushLayout } from "./skopeo.js";
import { startTokenServer, type TokenServer } from "./token-server.js";

const skip = dockerRegistrySkipReason();
const BIG = 64 * 1024 * 1024 + 1234;
const PASSWORD = "pw-Zq81-never-shown";

async function sha256Stream(body: AsyncIterable<Buffer>): Promise<{ digest: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, bytes };
}

describe("registry client against docker-registry", { skip, timeout: 600_000 }, () => {
  let dir: string;
  let plain: DockerRegistry;
  let layout: BuiltLayout;
  let pushed: string;
  const clients: UpstreamClient[] = [];
  // Through an upstream client as app.ts builds it for an OCI mirror.
  const client = (options: Omit<RegistryClientOptions, "http">) => {
    const http = new UpstreamClient({
      allowedHosts: [new URL(options.baseUrl).host],
      timeoutMs: 30_000,
      retries: 0,
      backoffMs: 10,
      maxFails: 5,
      failTimeoutMs: 30_000,
      hostPolicy: "follow-upstream",
    });
    clients.push(http);
    return new RegistryClient({ ...options, http });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-oci-it-"));
    plain = await startDockerRegistry({ dir: join(dir, "plain") });
    layout = await buildOciLayout({
      dir: join(dir, "layout"),
      tag: "v1",
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ],
      layerSizes: [BIG, 3000],
    });
    pushed = await skopeoPushLayout(layout.dir, "v1", plain.host, "team/app", "v1", { dir });
  });

  after(async () => {
    for (const c of clients) await c.close();
    await plain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("a manifest by tag and by digest: raw bytes hash to Docker-Content-Digest and to what skopeo pushed", async () => {
    assert.equal(pushed, layout.digest, "skopeo kept the layout's digest");
    const c = client({ baseUrl: plain.url });
    const index = await c.getManifest("team/app", "v1");
    assert.equal(index.digest, layout.digest);
    assert.equal(`sha256:${createHash("sha256").update(index.raw).digest("hex")}`, layout.digest);
    assert.equal(index.manifest.kind, "index");
    const inspected = await skopeoInspectRaw(plain.host, "team/app:v1", { dir });
    assert.deepEqual(index.raw, inspected.raw);
    const child = layout.images[1];
    assert.ok(child);
    const byDigest = await c.getManifest("team/app", child.manifestDigest);
    assert.equal(byDigest.manifest.kind, "image");
    assert.equal(byDigest.digest, child.manifestDigest);
    const head = await c.headManifest("team/app", "v1");
    assert.equal(head.digest, layout.digest);
    assert.equal(head.size, index.raw.length);
    await assert.rejects(
      c.getManifest("team/app", "nope"),
      (e: unknown) => e instanceof OciError && e.ociCode === "MANIFEST_UNKNOWN",
    );
    await assert.rejects(
      c.getManifest("team/none", "v1"),
      (e: unknown) => e instanceof OciError && e.status === 404,
    );
  });

  test("the real-world regclient test repository pushes with skopeo and reads back byte for byte", async () => {
    const v3 = "sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d";
    const digest = await skopeoPushLayout(
      realWorldFixture("oci", "regclient-testrepo"),
      "v3",
      plain.host,
      "regclient/testrepo",
      "v3",
      {
        dir,
      },
    );
    assert.equal(digest, v3);
    const c = client({ baseUrl: plain.url });
    const got = await c.getManifest("regclient/testrepo", "v3");
    assert.equal(got.digest, v3);
    assert.equal(got.manifest.kind, "index");
    if (got.manifest.kind !== "index") return;
    for (const child of got.manifest.manifests) {
      const m = await c.getManifest("regclient/testrepo", child.digest.value);
      assert.equal(m.raw.length, child.size);
    }
  });

  // distribution 2.8 ignores `n` and `last` on tag lists (pagination came in distribution 3); the
  // Link-following itself is pinned in src/oci/registry-client.test.ts against a spec-paginating server.
  test("tag lists: every tag comes back when asked page by page", async () => {
    const c = client({ baseUrl: plain.url });
    const index = await c.getManifest("team/app", "v1");
    const tags = ["v1"];
    for (let i = 0; i < 6; i++) {
      const tag = `extra-${i}`;
      const res = await request(`${plain.url}/v2/team/app/manifests/${tag}`, {
        method: "PUT",
        headers: { "content-type": index.manifest.mediaType },
        body: index.raw,
      });
      await res.body.dump();
      assert.equal(res.statusCode, 201);
      tags.push(tag);
    }
    const all = await c.listAllTags("team/app", 2);
    assert.deepEqual([...all].sort(), [...tags].sort());
  });

  test("a 64 MiB layer streams whole and by Range", async () => {
    const c = client({ baseUrl: plain.url });
    const layer = layout.images[0]?.layers[0];
    assert.ok(layer);
    const started = Date.now();
    const whole = await c.getBlob("team/app", layer.digest);
    assert.equal(whole.status, 200);
    assert.equal(whole.contentLength, layer.size);
    const got = await sha256Stream(whole.body);
    const ms = Date.now() - started;
    assert.equal(got.digest, layer.digest);
    assert.equal(got.bytes, layer.size);
    console.log(`# streamed ${(layer.size / 2 ** 20).toFixed(1)} MiB in ${ms} ms`);
    const part = await c.getBlob("team/app", layer.digest, { range: { start: 1_000_000, end: 1_000_999 } });
    assert.equal(part.status, 206);
    assert.equal(part.contentRange, `bytes 1000000-1000999/${layer.size}`);
    const chunks: Buffer[] = [];
    for await (const chunk of part.body) chunks.push(chunk as Buffer);
    const fh = await open(join(layout.dir, "blobs", "sha256", layer.digest.slice(7)));
    const expected = Buffer.alloc(1000);
    await fh.read(expected, 0, 1000, 1_000_000);
    await fh.close();
    assert.deepEqual(Buffer.concat(chunks), expected);
    await assert.rejects(
      c.getBlob("team/app", `sha256:${"0".repeat(64)}`),
      (e: unknown) => e instanceof OciError && e.ociCode === "BLOB_UNKNOWN",
    );
  });

  test("docker-registry in proxy mode serves the same manifest bytes", async () => {
    const proxy = await startDockerRegistry({ dir: join(dir, "proxy"), proxy: { remoteUrl: plain.url } });
    try {
      const c = client({ baseUrl: proxy.url });
      const got = await c.getManifest("team/app", "v1");
      assert.equal(got.digest, layout.digest);
    } finally {
      await proxy.stop();
    }
  });

  describe("with token auth", () => {
    let tokens: TokenServer;
    let secured: DockerRegistry;

    before(async () => {
      tokens = await startTokenServer({
        dir,
        users: { alice: PASSWORD },
        anonymousPull: (name) => name.startsWith("public/"),
        missing: (name) => name === "ghost/nothing",
      });
      secured = await startDockerRegistry({ dir: join(dir, "secured"), auth: tokens });
      const small = await buildOciLayout({
        dir: join(dir, "small"),
        tag: "v1",
        platforms: [{ os: "linux", architecture: "amd64" }],
        layerSizes: [5000, 7000],
        seed: "small",
      });
      for (const name of ["public/tool", "private/app"])
        await skopeoPushLayout(small.dir, "v1", secured.host, name, "v1", {
          dir,
          creds: `alice:${PASSWORD}`,
        });
    });

    after(async () => {
      await secured?.stop();
      await tokens?.close();
    });

    test("a request without a token is refused with a Bearer challenge; the anonymous token flow then works", async () => {
      const res = await request(`${secured.url}/v2/public/tool/manifests/v1`);
      await res.body.dump();
      assert.equal(res.statusCode, 401);
      assert.match(
        String(res.headers["www-authenticate"]),
        /^Bearer realm=".*",service=".*",scope="repository:public\/tool:pull"/,
      );
      const before = tokens.requests.length;
      const c = client({ baseUrl: secured.url });
      const got = await c.getManifest("public/tool", "v1");
      assert.equal(got.manifest.kind, "image");
      const asked = tokens.requests.slice(before);
      assert.equal(asked.length, 1);
      assert.equal(asked[0]?.hadCredentials, false);
      assert.deepEqual(asked[0]?.scopes, ["repository:public/tool:pull"]);
      // Cached token: more requests, concurrent ones included, ask the token server no more.
      if (got.manifest.kind !== "image") return;
      await Promise.all(
        got.manifest.layers.map((l) =>
          c.getBlob("public/tool", l.digest.value).then((b) => sha256Stream(b.body)),
        ),
      );
      await c.getManifest("public/tool", "v1");
      assert.equal(tokens.requests.length, before + 1);
    });

    test("concurrent first requests share one token fetch", async () => {
      const before = tokens.requests.length;
      const c = client({ baseUrl: secured.url, credentials: { username: "alice", password: PASSWORD } });
      const results = await Promise.all([1, 2, 3, 4].map(() => c.getManifest("private/app", "v1")));
      assert.equal(new Set(results.map((r) => r.digest)).size, 1);
      assert.equal(tokens.requests.length - before, 1);
      assert.equal(tokens.requests.at(-1)?.account, "alice");
    });

    test("a private repository is NAME_UNKNOWN to an anonymous client, as on Docker Hub", async () => {
      const c = client({ baseUrl: secured.url });
      await assert.rejects(
        c.getManifest("private/app", "v1"),
        (e: unknown) => e instanceof OciError && e.ociCode === "NAME_UNKNOWN",
      );
    });

    test("a repository the token server grants no actions on is NAME_UNKNOWN, even with credentials", async () => {
      const c = client({ baseUrl: secured.url, credentials: { username: "alice", password: PASSWORD } });
      await assert.rejects(c.getManifest("ghost/nothing", "latest"), (e: unknown) => {
        assert.ok(e instanceof OciError);
        assert.equal(e.ociCode, "NAME_UNKNOWN");
        assert.match(e.message, /ghost\/nothing/);
        return true;
      });
    });

    test("wrong credentials give a clear UNAUTHORIZED error that does not carry the password", async () => {
      const wrong = "wrong-pw-Kx93-secret";
      const c = client({ baseUrl: secured.url, credentials: { username: "alice", password: wrong } });
      await assert.rejects(c.getManifest("private/app", "v1"), (e: unknown) => {
        assert.ok(e instanceof OciError);
        assert.equal(e.ociCode, "UNAUTHORIZED");
        assert.match(e.message, /refused the configured credentials/);
        const everything = `${e.message} ${e.hint} ${e.stack} ${JSON.stringify(e)} ${JSON.stringify(e.detail)}`;
        assert.ok(!everything.includes(wrong), "password leaked into the error");
        assert.ok(
          !everything.includes(Buffer.from(`alice:${wrong}`).toString("base64")),
          "Basic header leaked",
        );
        return true;
      });
    });
  });
});
