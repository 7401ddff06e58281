// freshmirror as a registry mirror, end to end with real parts: CNCF distribution's docker-registry
// as the upstream (filled by skopeo from OCI layouts built here), `freshmirror serve`, and skopeo
// pulling through it. Digests pulled through must equal the source's.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { type BuiltLayout, buildOciLayout } from "./oci-layout-builder.js";
import { skopeoInspectRaw, skopeoPushLayout } from "./skopeo.js";
import { skopeoPull } from "./skopeo-pull.js";

const skip = dockerRegistrySkipReason();

describe("OCI pull-through with skopeo", { skip, timeout: 600_000 }, () => {
  let dir: string;
  let upstream: DockerRegistry;
  let layout: BuiltLayout;
  let pushed: string;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let host: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-oci-mirror-"));
    upstream = await startDockerRegistry({ dir: join(dir, "upstream") });
    layout = await buildOciLayout({
      dir: join(dir, "layout"),
      tag: "v1",
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ],
      layerSizes: [200_000, 3000],
    });
    pushed = await skopeoPushLayout(layout.dir, "v1", upstream.host, "team/app", "v1", { dir });
    ws = createWorkspace({
      mirrors: {
        local: { type: "oci", upstream: upstream.url, registry: "registry.example.org" },
      },
    });
    server = await ws.serve();
    host = new URL(server.url).host;
  });

  after(async () => {
    await ws?.cleanup();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("GET /v2/ answers 200 {} with the registry API version header", async () => {
    const res = await request(`${server.url}/v2/`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["docker-distribution-api-version"], "registry/2.0");
    assert.deepEqual(await res.body.json(), {});
  });

  test("skopeo copies a multi-platform image through /v2/<mirror>/..., digests unchanged", async () => {
    const digest = await skopeoPull(`${host}/local/team/app:v1`, join(dir, "pulled"), "v1", { dir });
    assert.equal(digest, pushed);
    assert.equal(digest, layout.digest);
    const raw = await skopeoInspectRaw(host, "local/team/app:v1", { dir });
    assert.equal(raw.digest, pushed);
  });
});
