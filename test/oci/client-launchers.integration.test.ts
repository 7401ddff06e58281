// The client launchers (dockerd.ts, containerd.ts, podman.ts) checked against a mirror that is
// not freshmirror: Debian's docker-registry in proxy mode (`proxy.remoteurl`) in front of a plain
// docker-registry holding the test images, with a recording pass-through between the clients and
// the proxy. This pins what each real client sends to a registry mirror (no `ns` from docker,
// `?ns=<registry>` from containerd, a path prefix from podman's mirror location), so a failure in
// the freshmirror client tests (oci-clients.integration.test.ts) is freshmirror's, not the
// harness's.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { containerdSkipReason, startContainerd } from "./containerd.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { dockerdSkipReason, startDockerd } from "./dockerd.js";
import { podmanSkipReason, preparePodman } from "./podman.js";
import { type RecordingProxy, startRecordingProxy } from "./recording-proxy.js";
import { buildTestImages, pushTestImage, type TestImages } from "./test-images.js";

const registrySkip = dockerRegistrySkipReason();

describe("real OCI clients against docker-registry as a mirror", {
  skip: registrySkip,
  timeout: 900_000,
}, () => {
  let dir: string;
  let upstream: DockerRegistry;
  let proxy: DockerRegistry;
  let front: RecordingProxy;
  let images: TestImages;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-cl-"));
    upstream = await startDockerRegistry({ dir: join(dir, "up") });
    images = await buildTestImages(join(dir, "layouts"), { big: false });
    for (const name of ["library/small", "org/small", "dockerhub/library/small"])
      await pushTestImage(images.small, upstream.host, name, "1.0", { dir });
    await pushTestImage(images.multi, upstream.host, "library/multi", "2.0", { dir });
    await pushTestImage(images.regclient, upstream.host, "library/regclient", "v3", { dir });
    proxy = await startDockerRegistry({ dir: join(dir, "proxy"), proxy: { remoteUrl: upstream.url } });
    front = await startRecordingProxy(proxy.url);
  });

  after(async () => {
    await front?.close();
    await proxy?.stop();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("dockerd with registry-mirrors pulls library/ names through the mirror, without ns", {
    skip: dockerdSkipReason(),
  }, async () => {
    const before = front.requests.length;
    const docker = await startDockerd({ dir: join(dir, "dockerd"), registryMirrors: [front.url] });
    try {
      const small = await docker.pull("small:1.0");
      assert.equal(small.digest, images.small.digest);
      assert.equal(small.id, images.small.hostConfigDigest);
      const multi = await docker.pull("library/multi:2.0");
      assert.equal(multi.digest, images.multi.digest, "docker names the index digest");
      assert.equal(multi.id, images.multi.hostConfigDigest, "and unpacks this machine's image");
      const real = await docker.pull("library/regclient:v3");
      assert.equal(real.digest, images.regclient.digest);
      assert.equal(real.id, images.regclient.hostConfigDigest);
    } finally {
      await docker.stop();
    }
    const seen = front.requests.slice(before);
    assert.ok(
      seen.some((r) => r.url.startsWith("/v2/library/small/manifests/1.0")),
      JSON.stringify(seen),
    );
    for (const layer of images.small.hostLayers)
      assert.ok(seen.some((r) => r.url === `/v2/library/small/blobs/${layer.digest}` && r.status === 200));
    assert.ok(
      seen.every((r) => !r.url.includes("ns=")),
      "docker sends no ns parameter",
    );
  });

  test("containerd with hosts.toml pulls docker.io and ghcr.io names through the mirror with ?ns=", {
    skip: containerdSkipReason(),
  }, async () => {
    const before = front.requests.length;
    const containerd = await startContainerd({
      dir: join(dir, "ctd"),
      mirrors: { "docker.io": front.url, "ghcr.io": front.url },
    });
    try {
      const small = await containerd.pull("docker.io/library/small:1.0");
      assert.equal(small.digest, images.small.digest);
      const multi = await containerd.pull("docker.io/library/multi:2.0");
      assert.equal(multi.digest, images.multi.digest);
      const ghcr = await containerd.pull("ghcr.io/org/small:1.0");
      assert.equal(ghcr.digest, images.small.digest);
    } finally {
      await containerd.stop();
    }
    const seen = front.requests.slice(before);
    assert.ok(
      seen.some((r) => r.url === "/v2/library/small/manifests/1.0?ns=docker.io"),
      JSON.stringify(seen.map((r) => r.url)),
    );
    assert.ok(seen.some((r) => r.url === "/v2/org/small/manifests/1.0?ns=ghcr.io"));
    assert.ok(
      seen.filter((r) => r.url.includes("/blobs/")).every((r) => /\?ns=(docker|ghcr)\.io$/.test(r.url)),
      "blob requests carry ns too",
    );
  });

  test("podman with a registries.conf mirror whose location has a path pulls through it", {
    skip: podmanSkipReason(),
  }, async () => {
    const before = front.requests.length;
    const podman = await preparePodman({
      dir: join(dir, "podman"),
      mirrors: { "docker.io": `${front.host}/dockerhub` },
    });
    try {
      const small = await podman.pull("docker.io/library/small:1.0");
      assert.equal(`sha256:${small.id}`, images.small.hostConfigDigest);
      assert.equal(small.digest, images.small.digest);
    } finally {
      await podman.cleanup();
    }
    const seen = front.requests.slice(before);
    assert.ok(
      seen.some((r) => r.url.startsWith("/v2/dockerhub/library/small/manifests/")),
      JSON.stringify(seen.map((r) => r.url)),
    );
  });
});
