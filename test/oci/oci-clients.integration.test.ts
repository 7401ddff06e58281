// Real OCI clients pulling through freshmirror (issue 10 item 8). Two upstreams on loopback, each
// Debian's docker-registry with temp storage: one open, standing in for Docker Hub, and one behind
// token auth (token-server.ts), standing in for ghcr.io. freshmirror serves both as `type: oci`
// mirrors (`hub`: registry docker.io, `ghcr`: registry ghcr.io, with credentials), reached
// through a recording pass-through that shows what each client sent. Every pull is checked
// against the digests of the source images:
// - dockerd with `registry-mirrors` (no `ns`, `library/` names; a 64 MiB layer fetched once);
// - containerd's `ctr images pull --hosts-dir` for docker.io and ghcr.io names (`?ns=`);
// - `skopeo copy --all` and `skopeo inspect --raw` by mirror name (`/v2/<mirror>/<name>`);
// - podman through a registries.conf mirror with a path (`<host>/hub`, `<host>/ghcr`).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { containerdSkipReason, startContainerd } from "./containerd.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { dockerdSkipReason, startDockerd } from "./dockerd.js";
import { podmanSkipReason, preparePodman } from "./podman.js";
import { type RecordingProxy, startRecordingProxy } from "./recording-proxy.js";
import { skopeoInspectRaw } from "./skopeo.js";
import { skopeoPull } from "./skopeo-pull.js";
import { buildTestImages, pushTestImage, type TestImages } from "./test-images.js";
import { startTokenServer, type TokenServer } from "./token-server.js";

const USER = "mirror-bot";
const PASSWORD = "pw-Gh81-never-shown";

describe("real OCI clients through freshmirror", {
  skip: dockerRegistrySkipReason(),
  timeout: 1_200_000,
}, () => {
  let dir: string;
  let hubUp: DockerRegistry;
  let ghcrUp: DockerRegistry;
  let tokens: TokenServer;
  let hubLog: RecordingProxy;
  let ghcrLog: RecordingProxy;
  let ws: MirrorWorkspace;
  let serve: RunningServe;
  /** Clients talk to freshmirror through this, so the test sees what they sent. */
  let front: RecordingProxy;
  let images: TestImages;

  before(async () => {
    // Short: containerd's socket path must fit in 108 bytes.
    dir = mkdtempSync(join(tmpdir(), "fm-oc-"));
    hubUp = await startDockerRegistry({ dir: join(dir, "hub") });
    tokens = await startTokenServer({ dir, users: { [USER]: PASSWORD } });
    ghcrUp = await startDockerRegistry({ dir: join(dir, "ghcr"), auth: tokens });
    images = await buildTestImages(join(dir, "layouts"));
    await pushTestImage(images.small, hubUp.host, "library/small", "1.0", { dir });
    await pushTestImage(images.multi, hubUp.host, "library/multi", "2.0", { dir });
    await pushTestImage(images.big, hubUp.host, "library/big", "1.0", { dir });
    await pushTestImage(images.big2, hubUp.host, "library/big2", "1.0", { dir });
    await pushTestImage(images.regclient, hubUp.host, "library/regclient", "v3", { dir });
    const creds = `${USER}:${PASSWORD}`;
    await pushTestImage(images.small, ghcrUp.host, "org/small", "1.0", { dir, creds });
    await pushTestImage(images.multi2, ghcrUp.host, "org/multi", "2.0", { dir, creds });
    // Only what freshmirror fetches from each upstream goes through these.
    hubLog = await startRecordingProxy(hubUp.url);
    ghcrLog = await startRecordingProxy(ghcrUp.url);
    ws = createWorkspace({
      mirrors: {
        hub: { type: "oci", upstream: hubLog.url, registry: "docker.io" },
        ghcr: {
          type: "oci",
          upstream: ghcrLog.url,
          registry: "ghcr.io",
          username_env: "FM_TEST_GHCR_USER",
          password_env: "FM_TEST_GHCR_PASSWORD",
        },
      },
    });
    process.env.FM_TEST_GHCR_USER = USER;
    process.env.FM_TEST_GHCR_PASSWORD = PASSWORD;
    serve = await ws.serve();
    front = await startRecordingProxy(serve.url);
  });

  after(async () => {
    await front?.close();
    await ws?.cleanup();
    await hubLog?.close();
    await ghcrLog?.close();
    await ghcrUp?.stop();
    await hubUp?.stop();
    await tokens?.close();
    delete process.env.FM_TEST_GHCR_USER;
    delete process.env.FM_TEST_GHCR_PASSWORD;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const failure = () => `freshmirror said:\n${serve.output().slice(-4000)}`;

  test("docker pull through registry-mirrors: library/ names reach the docker.io mirror, digests kept, a 64 MiB layer fetched once; other registries by mirror name", {
    skip: dockerdSkipReason(),
  }, async () => {
    const since = front.requests.length;
    const docker = await startDockerd({ dir: join(dir, "dockerd"), registryMirrors: [front.url] });
    try {
      const small = await docker.pull("small:1.0");
      assert.equal(small.digest, images.small.digest, failure());
      assert.equal(small.id, images.small.hostConfigDigest);
      const multi = await docker.pull("library/multi:2.0");
      assert.equal(multi.digest, images.multi.digest, "docker names the index digest");
      assert.equal(multi.id, images.multi.hostConfigDigest, "and unpacks this machine's image");
      const real = await docker.pull("library/regclient:v3");
      assert.equal(real.digest, images.regclient.digest);
      assert.equal(real.id, images.regclient.hostConfigDigest);
      const big = await docker.pull("library/big:1.0");
      assert.equal(big.digest, images.big.digest);
      assert.equal(big.id, images.big.hostConfigDigest);
      // A registry other than Docker Hub, by mirror name: `docker pull HOST/ghcr/org/img:tag`.
      const byName = await docker.pull(`${front.host}/ghcr/org/small:1.0`);
      assert.equal(byName.digest, images.small.digest, failure());
      assert.equal(byName.id, images.small.hostConfigDigest);
    } finally {
      await docker.stop();
    }
    const seen = front.requests.slice(since);
    assert.ok(
      seen.every((r) => !r.url.includes("ns=")),
      "docker sends no ns",
    );
    assert.ok(seen.some((r) => r.url.startsWith("/v2/library/small/manifests/1.0") && r.status === 200));
    const bigLayer = images.big.hostLayers[0];
    assert.ok(bigLayer && bigLayer.size > 64 * 1024 * 1024);
    const bigGets = hubLog.requests.filter(
      (r) => r.method === "GET" && r.url.split("?")[0]?.endsWith(`/blobs/${bigLayer.digest}`),
    );
    assert.equal(bigGets.length, 1, "the big layer came from upstream once");
    assert.equal(bigGets[0]?.bytes, bigLayer.size);
  });

  test("ctr images pull --hosts-dir: docker.io and ghcr.io names go through freshmirror with ?ns=", {
    skip: containerdSkipReason(),
  }, async () => {
    const since = front.requests.length;
    const containerd = await startContainerd({
      dir: join(dir, "ctd"),
      mirrors: { "docker.io": front.url, "ghcr.io": front.url },
    });
    try {
      // ghcr.io first: containerd keeps content by digest, so org/small's blobs (the same as
      // library/small's) are fetched only for the first of the two names.
      const ghcr = await containerd.pull("ghcr.io/org/multi:2.0");
      assert.equal(ghcr.digest, images.multi2.digest, failure());
      const small = await containerd.pull("docker.io/library/small:1.0");
      assert.equal(small.digest, images.small.digest, failure());
      const multi = await containerd.pull("docker.io/library/multi:2.0", { allPlatforms: true });
      assert.equal(multi.digest, images.multi.digest);
      const ghcrSmall = await containerd.pull("ghcr.io/org/small:1.0");
      assert.equal(ghcrSmall.digest, images.small.digest);
    } finally {
      await containerd.stop();
    }
    const seen = front.requests.slice(since);
    const urls = JSON.stringify(seen.map((r) => `${r.method} ${r.url} ${r.status}`));
    const hub = seen.filter((r) => r.url.endsWith("?ns=docker.io"));
    const gh = seen.filter((r) => r.url.endsWith("?ns=ghcr.io"));
    assert.ok(
      hub.some((r) => r.url.startsWith("/v2/library/small/manifests/1.0")),
      urls,
    );
    assert.ok(
      gh.some((r) => r.url.startsWith("/v2/org/multi/manifests/2.0")),
      urls,
    );
    assert.ok(
      gh.some((r) => r.url.includes("/blobs/") && r.status === 200),
      urls,
    );
    for (const r of [...hub, ...gh].filter((x) => x.status === 200 && x.method === "GET"))
      assert.equal(r.responseHeaders["oci-namespace"], r.url.endsWith("ghcr.io") ? "ghcr.io" : "docker.io");
    // The ghcr.io names were answered from the token-auth upstream, with freshmirror's credentials.
    assert.ok(tokens.requests.some((t) => t.account === USER && t.status === 200));
    assert.ok(ghcrLog.requests.some((r) => r.url.startsWith("/v2/org/multi/manifests/") && r.status === 200));
    const layer = images.multi2.hostLayers[0];
    assert.ok(
      ghcrLog.requests.some((r) => r.url === `/v2/org/multi/blobs/${layer?.digest}` && r.status === 200),
      "org/multi's layer came from the token-auth upstream",
    );
  });

  test("skopeo copy --all and inspect --raw by mirror name keep every digest", async () => {
    for (const [route, image] of [
      ["hub/library/multi:2.0", images.multi],
      ["ghcr/org/multi:2.0", images.multi2],
      ["hub/library/regclient:v3", images.regclient],
    ] as const) {
      const inspected = await skopeoInspectRaw(front.host, route, { dir });
      assert.equal(inspected.digest, image.digest, `${route}: ${failure()}`);
      const layout = join(dir, `copy-${route.replaceAll(/[/:]/g, "-")}`);
      // The source of truth: what the upstream itself serves.
      const ghcr = route.startsWith("ghcr/");
      const source = await skopeoInspectRaw(
        ghcr ? ghcrUp.host : hubUp.host,
        route.slice(route.indexOf("/") + 1),
        { dir, ...(ghcr ? { creds: `${USER}:${PASSWORD}` } : {}) },
      );
      assert.deepEqual(inspected.raw, source.raw, `${route}: the same bytes as the upstream`);
      const pulled = await skopeoPull(`${front.host}/${route}`, layout, "copied", { dir });
      assert.equal(pulled, image.digest, `${route}: skopeo read the source digest`);
      const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
        manifests: { digest: string }[];
      };
      assert.equal(index.manifests[0]?.digest, image.digest, `${route}: copied with its digest`);
    }
  });

  test("podman pull through a registries.conf mirror at <host>/<mirror>", {
    skip: podmanSkipReason(),
  }, async () => {
    const since = front.requests.length;
    const podman = await preparePodman({
      dir: join(dir, "podman"),
      mirrors: { "docker.io": `${front.host}/hub`, "ghcr.io": `${front.host}/ghcr` },
    });
    try {
      const small = await podman.pull("docker.io/library/small:1.0");
      assert.equal(small.digest, images.small.digest, failure());
      assert.equal(`sha256:${small.id}`, images.small.hostConfigDigest);
      const multi = await podman.pull("ghcr.io/org/multi:2.0");
      assert.equal(multi.digest, images.multi2.digest);
      assert.equal(`sha256:${multi.id}`, images.multi2.hostConfigDigest);
    } finally {
      await podman.cleanup();
    }
    const seen = front.requests.slice(since);
    assert.ok(seen.some((r) => r.url.startsWith("/v2/hub/library/small/manifests/") && r.status === 200));
    assert.ok(seen.some((r) => r.url.startsWith("/v2/ghcr/org/multi/manifests/") && r.status === 200));
  });

  test("dockerd and containerd start pulling one cold image with a 64 MiB layer together: one upstream GET", {
    skip: dockerdSkipReason() ?? containerdSkipReason(),
  }, async () => {
    const layer = images.big2.hostLayers[0];
    assert.ok(layer && layer.size > 64 * 1024 * 1024);
    const upstreamGets = () =>
      hubLog.requests.filter(
        (r) => r.method === "GET" && r.url.split("?")[0]?.endsWith(`/blobs/${layer.digest}`),
      );
    assert.equal(upstreamGets().length, 0, "cold before the pulls");
    const docker = await startDockerd({ dir: join(dir, "dockerd2"), registryMirrors: [front.url] });
    try {
      const containerd = await startContainerd({
        dir: join(dir, "ctd2"),
        mirrors: { "docker.io": front.url },
      });
      try {
        const [d, c] = await Promise.all([
          docker.pull("library/big2:1.0"),
          containerd.pull("docker.io/library/big2:1.0"),
        ]);
        assert.equal(d.digest, images.big2.digest, failure());
        assert.equal(d.id, images.big2.hostConfigDigest);
        assert.equal(c.digest, images.big2.digest);
      } finally {
        await containerd.stop();
      }
    } finally {
      await docker.stop();
    }
    const clientGets = front.requests.filter(
      (r) =>
        r.method === "GET" && r.url.split("?")[0]?.endsWith(`/blobs/${layer.digest}`) && r.status === 200,
    );
    assert.ok(clientGets.length >= 2, `both clients fetched the layer (${clientGets.length})`);
    assert.ok(
      clientGets.every((r) => r.bytes === layer.size),
      "every client got all of it",
    );
    const gets = upstreamGets();
    assert.equal(gets.length, 1, "one upstream GET for both clients");
    assert.equal(gets[0]?.bytes, layer.size);
  });

  // Runs last: docker, containerd, skopeo and podman pulled the same images through both mirrors.
  // The two upstreams hold the same blobs; freshmirror's store is shared by digest, so a blob one
  // mirror fetched is not fetched again for the other.
  test("every blob came from the upstreams at most once, whichever client and mirror asked", async () => {
    const perDigest = new Map<string, string[]>();
    for (const [name, upstream] of [
      ["hub", hubLog],
      ["ghcr", ghcrLog],
    ] as const) {
      for (const r of upstream.requests) {
        const digest = /\/blobs\/(sha256:[0-9a-f]{64})/.exec(r.url)?.[1];
        if (r.method === "GET" && digest && r.status === 200)
          perDigest.set(digest, [...(perDigest.get(digest) ?? []), `${name} ${r.url}`]);
      }
    }
    // small, multi (both platforms), big and the regclient image's amd64 layers at least.
    assert.ok(perDigest.size >= 8, `blobs from upstream: ${perDigest.size}`);
    const repeated = [...perDigest].filter(([, fetches]) => fetches.length > 1);
    assert.deepEqual(repeated, [], "blobs fetched more than once");
  });
});
