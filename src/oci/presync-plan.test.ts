import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildOciLayout } from "../../test/oci/oci-layout-builder.js";
import { type Manifest, parseManifest } from "./manifest.js";
import { parsePlatform } from "./platform.js";
import { type ManifestSource, planBytes, planManifest, planPresync } from "./presync-plan.js";
import { OciError } from "./registry-errors.js";
import { parseTagPattern, selectTags, type TagPattern } from "./tag-pattern.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function pattern(text: string): TagPattern {
  const p = parseTagPattern(text);
  assert.ok(typeof p !== "string", String(p));
  return p;
}

function ok(m: Manifest | OciError): Manifest {
  if (m instanceof OciError) throw m;
  return m;
}

/** Upstream as OCI layouts on disk: repository -> tag -> layout dir. */
function layoutSource(repos: Record<string, Record<string, string>>): ManifestSource & { gets: string[] } {
  const gets: string[] = [];
  return {
    gets,
    async listTags(repository) {
      const tags = repos[repository];
      if (!tags) throw new OciError("NAME_UNKNOWN", "no such repository");
      return Object.keys(tags);
    },
    async getManifest(repository, reference) {
      gets.push(`${repository}@${reference}`);
      const tags = repos[repository];
      if (!tags) throw new OciError("NAME_UNKNOWN", "no such repository");
      let hex: string | undefined;
      let dir: string | undefined;
      if (reference.startsWith("sha256:")) {
        hex = reference.slice(7);
        dir = Object.values(tags)[0];
      } else {
        dir = tags[reference];
        if (!dir) throw new OciError("MANIFEST_UNKNOWN", "no such tag");
        const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
        hex = (index.manifests[0].digest as string).slice(7);
      }
      return { manifest: ok(parseManifest(await readFile(join(dir as string, "blobs", "sha256", hex)))) };
    },
  };
}

async function layout(tag: string, arches: string[], layerSizes = [3000, 700]) {
  const dir = await mkdtemp(join(tmpdir(), "fm-presync-"));
  dirs.push(dir);
  return buildOciLayout({
    dir,
    tag,
    layerSizes,
    platforms: arches.map((a) => {
      const [os, architecture, variant] = a.split("/") as [string, string, string?];
      return variant ? { os, architecture, variant } : { os, architecture };
    }),
  });
}

test("tag patterns: exact tags are always asked for; /regex/ picks listed tags; bad entries say why", () => {
  const patterns = [pattern("latest"), pattern("/^2\\.9\\.\\d+-cuda/"), pattern("/RUNTIME$/i")];
  assert.deepEqual(
    selectTags(patterns, ["2.9.1-cuda12.8", "2.8.0-cuda12.6", "x-runtime", "2.9.0-cuda12.8", "latest"]),
    ["latest", "2.9.0-cuda12.8", "2.9.1-cuda12.8", "x-runtime"],
  );
  assert.deepEqual(selectTags([pattern("v1")], []), ["v1"], "an exact tag needs no tag list");
  assert.match(String(parseTagPattern("/(/")), /not a regular expression/);
  assert.match(String(parseTagPattern("bad tag")), /invalid tag/);
  assert.match(String(parseTagPattern("-x")), /invalid tag/);
});

test("an index is kept whole while only the selected platform's manifest, config and layers are planned", async () => {
  const multi = await layout("v1", ["linux/amd64", "linux/arm64/v8", "linux/ppc64le"]);
  const source = layoutSource({ "org/img": { v1: multi.dir } });
  const plan = await planPresync(
    [{ repository: "org/img", tags: [pattern("v1")] }],
    [parsePlatform("linux/amd64") as NonNullable<ReturnType<typeof parsePlatform>>],
    source,
  );
  const amd64 = multi.images.find((i) => i.platform.architecture === "amd64");
  assert.ok(amd64);
  assert.deepEqual(plan.tags, [
    {
      repository: "org/img",
      tag: "v1",
      digest: multi.digest,
      mediaType: "application/vnd.oci.image.index.v1+json",
      platforms: ["linux/amd64"],
    },
  ]);
  assert.deepEqual(
    plan.manifests.map((m) => m.manifest.digest.value),
    [multi.digest, amd64.manifestDigest],
    "the index (unchanged digest) and the amd64 manifest",
  );
  assert.deepEqual(
    plan.blobs.map((b) => b.descriptor.digest.value).sort(),
    [amd64.configDigest, ...amd64.layers.map((l) => l.digest)].sort(),
  );
  const others = multi.images.filter((i) => i !== amd64).map((i) => i.manifestDigest);
  assert.deepEqual(plan.skipped.map((s) => s.descriptor.digest.value).sort(), [...others].sort());
  assert.deepEqual(
    plan.references.get(multi.digest)?.sort(),
    multi.images.map((i) => i.manifestDigest).sort(),
    "the index references every child, also those left on demand",
  );
  assert.ok(
    !source.gets.some((g) => others.some((o) => g.endsWith(o))),
    "no other platform's manifest is fetched",
  );
  const manifestBytes = plan.manifests.reduce((n, m) => n + m.manifest.size, 0);
  const config = plan.blobs.find((b) => b.descriptor.digest.value === amd64.configDigest);
  assert.ok(config);
  const blobBytes = amd64.layers.reduce((n, l) => n + l.size, 0) + config.descriptor.size;
  assert.equal(planBytes(plan), manifestBytes + blobBytes);
});

test("no platforms: every child; shared blobs counted once; missing tags and repositories are warnings", async () => {
  const multi = await layout("v1", ["linux/amd64", "linux/arm64"]);
  const single = await layout("v2", ["linux/amd64"]);
  const source = layoutSource({ "org/img": { v1: multi.dir, v2: single.dir, "v1-again": multi.dir } });
  const plan = await planPresync(
    [
      { repository: "org/img", tags: [pattern("/^v/"), pattern("gone")] },
      { repository: "org/none", tags: [pattern("/x/")] },
    ],
    [],
    source,
  );
  assert.deepEqual(
    plan.tags.map((t) => [t.tag, t.digest]),
    [
      ["v1", multi.digest],
      ["v1-again", multi.digest],
      ["v2", single.digest],
    ],
  );
  assert.equal(plan.manifests.length, 4, "index, two children, the single manifest: each once");
  assert.equal(plan.blobs.length, 3 * 3, "config and two layers per image");
  assert.deepEqual(plan.skipped, []);
  assert.deepEqual(plan.warnings.sort(), [
    "org/img:gone: upstream has no such tag",
    "org/none: upstream has no such repository",
  ]);
});

test("planManifest leaves foreign layers to their urls", () => {
  const hex = (c: string) => `sha256:${c.repeat(64)}`;
  const raw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: hex("a"), size: 10 },
      layers: [
        {
          mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
          digest: hex("b"),
          size: 99,
          urls: ["https://x"],
        },
        { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: hex("c"), size: 5 },
      ],
    }),
  );
  const step = planManifest(ok(parseManifest(raw)), []);
  assert.deepEqual(
    step.blobs.map((d) => d.digest.value),
    [hex("a"), hex("c")],
  );
  assert.deepEqual(
    step.skipped.map((d) => d.digest.value),
    [hex("b")],
  );
});
