// The OCI pre-sync end to end with real parts: CNCF distribution's docker-registry as upstream
// (filled by skopeo from OCI layouts built here, a two-platform index), `freshmirror sync`,
// `freshmirror serve` with `watch:` and a command hook, `freshmirror gc`, and skopeo reading
// through the mirror with the upstream stopped.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { request } from "undici";
import { StateStore } from "../../src/store/state-store.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { until } from "../helpers/until.js";
import { type DockerRegistry, dockerRegistrySkipReason, startDockerRegistry } from "./docker-registry.js";
import { type BuiltLayout, buildOciLayout } from "./oci-layout-builder.js";
import { skopeoInspectRaw, skopeoPushLayout } from "./skopeo.js";

const skip = dockerRegistrySkipReason();

const PLATFORMS = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64", variant: "v8" },
];

describe("OCI pre-sync, watch, image.updated and gc", { skip, timeout: 600_000 }, () => {
  let dir: string;
  let upstream: DockerRegistry;
  let ws: MirrorWorkspace;
  let server: RunningServe | undefined;
  const layouts: BuiltLayout[] = [];
  let hookOut: string;

  const blobPath = (digest: string) => {
    const hex = digest.replace(/^sha256:/, "");
    return join(ws.dataDir, "blobs", "sha256", hex.slice(0, 2), hex);
  };
  const amd64 = (l: BuiltLayout) =>
    l.images.find((i) => i.platform.architecture === "amd64") as BuiltLayout["images"][0];
  const arm64 = (l: BuiltLayout) =>
    l.images.find((i) => i.platform.architecture === "arm64") as BuiltLayout["images"][0];
  const treeOf = (l: BuiltLayout, image: BuiltLayout["images"][0]) => [
    image.manifestDigest,
    image.configDigest,
    ...image.layers.map((x) => x.digest),
    l.digest,
  ];

  async function pushVersion(seed: string, tag = "v1"): Promise<BuiltLayout> {
    const layout = await buildOciLayout({
      dir: join(dir, `layout-${seed}`),
      tag,
      platforms: PLATFORMS,
      layerSizes: [150_000, 2000],
      seed,
    });
    const pushed = await skopeoPushLayout(layout.dir, tag, upstream.host, "team/app", tag, { dir });
    assert.equal(pushed, layout.digest);
    if (tag === "v1") layouts.push(layout);
    return layout;
  }
  const hookEvents = (): Record<string, string>[] =>
    existsSync(hookOut)
      ? readFileSync(hookOut, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-oci-presync-"));
    upstream = await startDockerRegistry({ dir: join(dir, "upstream") });
    await pushVersion("first");
    hookOut = join(dir, "image-updated.jsonl");
    ws = createWorkspace({
      gc_grace: "0s",
      mirrors: {
        local: {
          type: "oci",
          upstream: upstream.url,
          registry: "registry.example.org",
          images: { "team/app": ["v1", "/^v[2-9]$/"] },
          platforms: ["linux/amd64"],
          schedule: "24h",
          catch_up: false,
          watch: "1s",
        },
      },
      hooks: [
        {
          name: "record-image",
          on: "image.updated",
          mirror: "local",
          project: "team/app",
          versions: "/^v\\d$/",
          command: [
            process.execPath,
            "-e",
            "require('node:fs').appendFileSync(process.argv[1], process.env.FRESHMIRROR_EVENT_JSON + '\\n')",
            hookOut,
          ],
          timeout: "30s",
        },
      ],
    });
  });

  after(async () => {
    await ws?.cleanup();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("sync --dry-run lists the index, the amd64 manifest, config and layers, and their size", async () => {
    const first = layouts[0] as BuiltLayout;
    const result = await ws.cli(["sync", "local", "--dry-run", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    const names = report.toFetch.map((f: { filename: string }) => f.filename).sort();
    assert.deepEqual(names, treeOf(first, amd64(first)).sort());
    const layerBytes = amd64(first).layers.reduce((n, l) => n + l.size, 0);
    assert.ok(report.bytesAdded > layerBytes, `${report.bytesAdded} > ${layerBytes}`);
    assert.equal(existsSync(blobPath(first.digest)), false, "a dry run stores nothing");
  });

  test("sync with platforms [linux/amd64] fetches only amd64 blobs and keeps the index as it was", async () => {
    const first = layouts[0] as BuiltLayout;
    const result = await ws.cli(["sync", "local", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.outcome, "success");
    for (const digest of treeOf(first, amd64(first))) assert.ok(existsSync(blobPath(digest)), digest);
    for (const digest of [
      arm64(first).manifestDigest,
      arm64(first).configDigest,
      ...arm64(first).layers.map((l) => l.digest),
    ])
      assert.equal(existsSync(blobPath(digest)), false, `arm64 is left to on demand: ${digest}`);
    assert.equal(report.filesTotal, 5, "index, manifest, config, two layers");
  });

  test("a pushed new digest for a watched tag is synced and fires image.updated to the hook", async () => {
    const first = layouts[0] as BuiltLayout;
    server = await ws.serve();
    const second = await pushVersion("second");
    const [event] = await until(
      () => hookEvents().length > 0 && hookEvents(),
      "the image.updated hook",
      60_000,
      100,
    );
    assert.ok(event);
    assert.equal(event.type, "image.updated");
    assert.deepEqual(
      [event.mirror, event.repository, event.tag, event.oldDigest, event.newDigest],
      ["local", "team/app", "v1", first.digest, second.digest],
    );
    // The lag of that tag: seen by the watcher, published by the sync it asked for.
    const state = new StateStore(join(ws.dataDir, "state.sqlite"));
    try {
      const sample = (await state.lag.history("local")).find((l) => l.project === "team/app:v1");
      assert.ok(sample?.publishedAt, "the move of team/app:v1 was recorded and published");
      assert.equal(await state.lag.lagMs("local", Date.now(), "team/app:v1"), 0);
    } finally {
      state.close();
    }
    for (const digest of treeOf(second, amd64(second))) assert.ok(existsSync(blobPath(digest)), digest);
    const raw = await skopeoInspectRaw(new URL(server.url).host, "local/team/app:v1", { dir });
    assert.equal(raw.digest, second.digest, "pulls see the new digest");

    // A new tag a /regex/ of images: matches is found in the tag list, synced and announced.
    const v2 = await pushVersion("v2", "v2");
    const added = await until(
      () => hookEvents().find((e) => e.tag === "v2"),
      "image.updated for the new tag v2",
      60_000,
      100,
    );
    assert.equal(added.newDigest, v2.digest);
    assert.equal(added.oldDigest, undefined, "a new tag has no old digest");
    for (const digest of treeOf(v2, amd64(v2))) assert.ok(existsSync(blobPath(digest)), digest);
  });

  test("status, API, /jobs, mirrorz.json, /metrics and /help show the OCI mirror", async () => {
    assert.ok(server);
    const second = layouts[1] as BuiltLayout;
    const layer = amd64(second).layers[0] as { digest: string; size: number };
    const blob = await request(`${server.url}/v2/local/team/app/blobs/${layer.digest}`);
    assert.equal(blob.statusCode, 200);
    assert.equal(blob.headers["x-cache"], "HIT", "a pre-synced layer is served from the store");
    await blob.body.dump();

    const api = await request(`${server.url}/api/v1/mirrors`);
    const mirrors = (await api.body.json()) as
      | { name: string; [k: string]: unknown }[]
      | { mirrors: { name: string }[] };
    const list = Array.isArray(mirrors) ? mirrors : mirrors.mirrors;
    const local = list.find((m) => m.name === "local") as Record<string, unknown> | undefined;
    assert.ok(local, JSON.stringify(mirrors).slice(0, 500));
    assert.equal(local.type, "oci");
    assert.equal(local.state, "success");
    assert.deepEqual(local.indexes, ["team/app"]);
    assert.equal(
      local.file_count,
      15,
      "v1 and v2 published (index, manifest, config, two layers each), and the first v1 still kept until gc",
    );
    const treeBytes = amd64(second).layers.reduce((n, l) => n + l.size, 0);
    assert.ok((local.size_bytes as number) > treeBytes, String(local.size_bytes));
    assert.ok(local.last_success_at, "last sync");
    assert.ok(local.next_run_at, "next sync");

    const jobs = (await (await request(`${server.url}/jobs`)).body.json()) as {
      name: string;
      status: string;
      size: string;
    }[];
    const job = jobs.find((j) => j.name === "local");
    assert.equal(job?.status, "success");
    assert.notEqual(job?.size, "0");
    const mirrorz = (await (await request(`${server.url}/mirrorz.json`)).body.json()) as {
      mirrors: { cname: string; help: string }[];
    };
    assert.equal(mirrorz.mirrors.find((m) => m.cname === "local")?.help, "/help/local");

    const metrics = await (await request(`${server.url}/metrics`)).body.text();
    assert.match(metrics, /freshmirror_cache_requests_total\{mirror="local",result="hit"\} [1-9]/);
    assert.match(metrics, /freshmirror_upstream_bytes_total\{mirror="local"\} [1-9]/);
    assert.match(metrics, /freshmirror_mirror_size_bytes\{mirror="local"\} [1-9]/);

    const status = await request(`${server.url}/status/local`);
    assert.equal(status.statusCode, 200);
    assert.match(await status.body.text(), /team\/app/);
    const help = await request(`${server.url}/help/local`);
    assert.equal(help.statusCode, 200);
    const helpHtml = await help.body.text();
    assert.match(helpHtml, /certs\.d\/registry\.example\.org\/hosts\.toml/);
    assert.match(helpHtml, /team\/app:v1/);
    const index = await request(`${server.url}/help/`);
    assert.equal(index.statusCode, 200);
    assert.match(await index.body.text(), /href="\/help\/local"/);
  });

  test("gc keeps every blob a kept snapshot or manifest references and removes the unreferenced", async () => {
    const [first, second] = layouts as [BuiltLayout, BuiltLayout];
    const third = await pushVersion("third");
    await until(
      () => hookEvents().find((e) => e.tag === "v1" && e.newDigest === third.digest),
      "image.updated for the second move of v1",
      60_000,
      100,
    );
    // Once more by hand: the two snapshot generations kept now both hold the third version.
    const again = await ws.cli(["sync", "local", "--json"]);
    assert.equal(again.code, 0, again.stderr);
    const gone = [...treeOf(first, amd64(first)), ...treeOf(second, amd64(second))].sort();
    const dry = await ws.cli(["gc", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    const would = [...dry.stdout.matchAll(/^would remove (sha256:[0-9a-f]{64}) /gm)].map((m) => m[1]).sort();
    assert.deepEqual(would, gone, "the trees no kept snapshot or manifest reaches would go");
    for (const digest of gone)
      assert.ok(existsSync(blobPath(digest)), `a dry run removes nothing: ${digest}`);
    const gc = await ws.cli(["gc", "--json"]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal(JSON.parse(gc.stdout).blobs, gone.length);
    for (const digest of gone) assert.equal(existsSync(blobPath(digest)), false, digest);
    for (const digest of treeOf(third, amd64(third)))
      assert.ok(existsSync(blobPath(digest)), `kept ${digest}`);
  });

  test("with the upstream stopped, the pre-synced tag is still served through the mirror", async () => {
    assert.ok(server);
    const third = layouts[2] as BuiltLayout;
    await upstream.stop();
    const host = new URL(server.url).host;
    const raw = await skopeoInspectRaw(host, "local/team/app:v1", { dir });
    assert.equal(raw.digest, third.digest, "the index, byte for byte");
    const manifest = await request(
      `${server.url}/v2/local/team/app/manifests/${amd64(third).manifestDigest}`,
      {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      },
    );
    assert.equal(manifest.statusCode, 200);
    await manifest.body.dump();
    const layer = amd64(third).layers[0] as { digest: string; size: number };
    const blob = await request(`${server.url}/v2/local/team/app/blobs/${layer.digest}`);
    assert.equal(blob.statusCode, 200);
    let n = 0;
    for await (const chunk of blob.body) n += (chunk as Buffer).length;
    assert.equal(n, layer.size);
  });
});
