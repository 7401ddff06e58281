// max_file_responses is one bound for the whole server: PyPI files and OCI blobs draw on the same
// slots. Clients that request a wheel and never read take every slot; a registry client asking
// for a blob then gets TOOMANYREQUESTS with Retry-After, and once send_timeout has closed the
// stalled responses the blob is served. Real parts: the fixture PyPI upstream, Debian's
// docker-registry filled by skopeo, `freshmirror serve`, raw sockets.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { metricSum, until } from "../helpers/until.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { type BuiltLayout, buildOciLayout } from "./oci-layout-builder.js";
import { skopeoPushLayout } from "./skopeo.js";

const skip = dockerRegistrySkipReason();
const MiB = 1024 * 1024;
const CAP = 4;

/** Sends a GET over a raw socket and never reads the answer. */
function stalledGet(base: URL, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.pause();
      socket.on("error", () => undefined);
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${base.host}\r\n\r\n`);
      resolve(socket);
    });
  });
}

/** A GET whose body is not wanted: status, headers and (for an error) the body. */
async function probe(url: string): Promise<{ status: number; retryAfter: string | null; text: string }> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  if (res.status === 200) {
    controller.abort();
    return { status: 200, retryAfter: null, text: "" };
  }
  return { status: res.status, retryAfter: res.headers.get("retry-after"), text: await res.text() };
}

describe("max_file_responses across mirror kinds", { skip, timeout: 300_000 }, () => {
  let dir: string;
  let pypi: PypiUpstream;
  let registry: DockerRegistry;
  let image: BuiltLayout;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let wheelPath: string;
  let blobUrl: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-file-cap-"));
    pypi = await startPypiUpstream({ indexes: ["simple"] });
    const wheel = await pypi.publish({
      index: "simple",
      project: "bigwheel",
      version: "1.0.0",
      payloadBytes: 48 * MiB,
    });
    registry = await startDockerRegistry({ dir: join(dir, "registry") });
    image = await buildOciLayout({
      dir: join(dir, "layout"),
      tag: "v1",
      platforms: [{ os: "linux", architecture: "amd64" }],
      layerSizes: [2 * MiB],
      seed: "file-cap",
    });
    await skopeoPushLayout(image.dir, "v1", registry.host, "team/app", "v1", { dir });
    ws = createWorkspace({
      max_file_responses: CAP,
      send_timeout: "3s",
      mirrors: {
        py: { type: "pypi", mode: "proxy", upstream: pypi.url, indexes: ["simple"] },
        local: { type: "oci", upstream: registry.url, registry: "registry.example.org" },
      },
    });
    server = await ws.serve();
    wheelPath = `/py/simple/${encodeURIComponent(wheel.filename)}`;
    const layer = image.images[0]?.layers[0];
    assert.ok(layer);
    blobUrl = `${server.url}/v2/local/team/app/blobs/${layer.digest}`;
    // Both into the store first: the requests below are served from disk.
    for (const url of [`${server.url}${wheelPath}`, blobUrl]) {
      const warm = await fetch(url);
      assert.equal(warm.status, 200, url);
      await warm.arrayBuffer();
      await until(async () => {
        const head = await fetch(url, { method: "HEAD" });
        return head.headers.get("x-cache") === "HIT" ? true : undefined;
      }, `${url} stored (X-Cache: HIT)`);
    }
  });

  after(async () => {
    await ws?.cleanup();
    await registry?.stop();
    await pypi?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("stalled wheel downloads take every slot: a blob gets 503 TOOMANYREQUESTS, then 200 after send_timeout", async () => {
    const sockets = await Promise.all(
      Array.from({ length: CAP }, () => stalledGet(new URL(server.url), wheelPath)),
    );
    try {
      // A written request is not yet a taken slot: a blob asked for before the server has read
      // the last wheel request would take that slot itself (and the wheel would get the 503).
      await until(
        async () => (await metricSum(server.url, "freshmirror_file_responses_active")) === CAP,
        `${CAP} stalled wheel responses holding every slot (freshmirror_file_responses_active)`,
      );
      const refusedBefore = await metricSum(server.url, "freshmirror_file_responses_refused_total");
      const busy = await probe(blobUrl);
      assert.equal(busy.status, 503, "a blob request while stalled wheel downloads hold every slot");
      assert.equal(
        await metricSum(server.url, "freshmirror_file_responses_refused_total"),
        refusedBefore + 1,
      );
      assert.equal(busy.retryAfter, "5");
      const body = JSON.parse(busy.text) as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0]?.code, "TOOMANYREQUESTS");
      assert.match(body.errors[0]?.message ?? "", /max_file_responses is 4/);
      // send_timeout (3 s) closes the stalled wheel responses; the blob is served again.
      const served = await until(
        async () => {
          const res = await probe(blobUrl);
          return res.status === 200 ? res : undefined;
        },
        "the blob served once send_timeout freed the slots",
        20_000,
      );
      assert.equal(served.status, 200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
