import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { parseManifest } from "../../src/oci/manifest.js";
import { OciError } from "../../src/oci/registry-errors.js";
import { buildOciLayout } from "./oci-layout-builder.js";

const run = promisify(execFile);
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("the layout builder writes a valid OCI layout: every blob hashes to its name, layers are tars", async () => {
  const dir = await mkdtemp(join(tmpdir(), "fm-oci-layout-"));
  dirs.push(dir);
  const layout = await buildOciLayout({
    dir,
    tag: "v1",
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ],
    layerSizes: [100_000, 513],
  });
  assert.deepEqual(JSON.parse(await readFile(join(dir, "oci-layout"), "utf8")), {
    imageLayoutVersion: "1.0.0",
  });
  for (const name of await readdir(join(dir, "blobs", "sha256"))) {
    const bytes = await readFile(join(dir, "blobs", "sha256", name));
    assert.equal(createHash("sha256").update(bytes).digest("hex"), name);
  }
  assert.deepEqual(await readdir(join(dir, "blobs")), ["sha256"], "no temp files left");
  const top = parseManifest(await readFile(join(dir, "blobs", "sha256", layout.digest.slice(7))));
  assert.ok(!(top instanceof OciError) && top.kind === "index");
  assert.equal(top.manifests.length, 2);
  const image = layout.images[1];
  assert.ok(image);
  const config = JSON.parse(
    await readFile(join(dir, "blobs", "sha256", image.configDigest.slice(7)), "utf8"),
  );
  assert.equal(config.architecture, "arm64");
  for (const [i, layer] of image.layers.entries()) {
    const path = join(dir, "blobs", "sha256", layer.digest.slice(7));
    const tar = gunzipSync(await readFile(path));
    assert.equal(`sha256:${createHash("sha256").update(tar).digest("hex")}`, config.rootfs.diff_ids[i]);
    const { stdout } = await run("tar", ["-tvzf", path]);
    assert.match(stdout, new RegExp(` ${[100_000, 513][i]} .*layer\\.bin`));
  }
  // Same seed, same bytes: the amd64 and arm64 layers differ, a rebuild is identical.
  assert.notEqual(layout.images[0]?.layers[0]?.digest, image.layers[0]?.digest);
  const again = await buildOciLayout({
    dir: join(dir, "again"),
    tag: "v1",
    platforms: [{ os: "linux", architecture: "amd64" }],
    layerSizes: [100_000, 513],
  });
  assert.equal(again.images[0]?.layers[0]?.digest, layout.images[0]?.layers[0]?.digest);
  assert.equal(again.digest, again.images[0]?.manifestDigest, "one platform: the tag points at the manifest");
});
