import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { realWorldFixture } from "../../test/helpers/repo-root.js";
import { selectIndexChildren } from "./index-filter.js";
import { MAX_MANIFEST_BYTES, type Manifest, parseManifest, referencedDescriptors } from "./manifest.js";
import { DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, MANIFEST_ACCEPT, OCI_IMAGE_INDEX } from "./media-types.js";
import { parsePlatform } from "./platform.js";
import { parseDigest } from "./reference.js";
import { OciError } from "./registry-errors.js";

const fixture = (...parts: string[]) => readFileSync(realWorldFixture("oci", ...parts));

function ok(result: Manifest | OciError): Manifest {
  if (result instanceof OciError) throw result;
  return result;
}

test("regclient examples: the raw bytes hash to the sha256 in each file name, and parse", () => {
  const dir = realWorldFixture("oci", "regclient-examples");
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  assert.equal(files.length, 4);
  for (const file of files) {
    const hex = /\.sha256-([a-f0-9]{64})\.json$/.exec(file)?.[1];
    assert.ok(hex, file);
    const raw = readFileSync(join(dir, file));
    assert.equal(createHash("sha256").update(raw).digest("hex"), hex, file);
    if (file.includes("_config.")) continue;
    const digest = parseDigest(`sha256:${hex}`);
    assert.ok(!(digest instanceof OciError));
    const m = ok(parseManifest(raw, { expectedDigest: digest }));
    assert.equal(m.digest.value, `sha256:${hex}`);
    assert.equal(m.raw, raw, "the parsed manifest keeps the very bytes");
  }
});

test("the v3 index lists platform children; its amd64 manifest lists config and layers", () => {
  const index = ok(
    parseManifest(
      fixture(
        "regclient-examples",
        "v3_index.sha256-6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d.json",
      ),
    ),
  );
  assert.equal(index.kind, "index");
  assert.equal(index.mediaType, OCI_IMAGE_INDEX);
  if (index.kind !== "index") return;
  const amd64 = index.manifests.find((d) => d.platform?.architecture === "amd64");
  assert.equal(
    amd64?.digest.value,
    "sha256:f8c9d547514d66b562f791c361e4e9795340a7626aff22980138718689ef2a44",
  );
  const image = ok(
    parseManifest(
      fixture(
        "regclient-examples",
        "v3_linux-amd64_manifest.sha256-f8c9d547514d66b562f791c361e4e9795340a7626aff22980138718689ef2a44.json",
      ),
    ),
  );
  assert.equal(image.kind, "image");
  if (image.kind !== "image") return;
  assert.equal(
    image.config.digest.value,
    "sha256:2097cbe98aab004aa60148c1b49515a86cd1ff514310dcf8654313259aad0b12",
  );
  assert.equal(image.size, amd64?.size);
  assert.deepEqual(referencedDescriptors(image), [image.config, ...image.layers]);
});

test("a digest that does not match the bytes is DIGEST_INVALID", () => {
  const raw = fixture("containers-image", "ociv1.manifest.json");
  const wrong = parseDigest(`sha256:${"0".repeat(64)}`);
  assert.ok(!(wrong instanceof OciError));
  const result = parseManifest(raw, { expectedDigest: wrong });
  assert.ok(result instanceof OciError && result.ociCode === "DIGEST_INVALID");
});

test("containers/image fixtures: Docker list and schema 2 parse, schema 1 and a broken artifact are refused", () => {
  const list = ok(parseManifest(fixture("containers-image", "schema2list.json")));
  assert.equal(list.mediaType, DOCKER_MANIFEST_LIST);
  assert.equal(list.kind, "index");
  const v2 = ok(parseManifest(fixture("containers-image", "v2s2.manifest.json")));
  assert.equal(v2.mediaType, DOCKER_MANIFEST_V2);
  const v1 = parseManifest(fixture("containers-image", "v2s1.manifest.json"));
  assert.ok(v1 instanceof OciError && v1.ociCode === "MANIFEST_INVALID" && /schema 1/.test(v1.message));
  // digest "" and layers null: not a valid descriptor set.
  assert.ok(parseManifest(fixture("containers-image", "ociv1.artifact.json")) instanceof OciError);
  ok(parseManifest(fixture("containers-image", "ociv1.image.index.json")));
  ok(parseManifest(fixture("containers-image", "oci1.index.zstd-selection.json")));
});

test("the kind comes from mediaType, else Content-Type, else the fields; a contradiction is refused", () => {
  const body = {
    schemaVersion: 2,
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      digest: `sha256:${"1".repeat(64)}`,
      size: 2,
    },
    layers: [],
  };
  const raw = Buffer.from(JSON.stringify(body));
  assert.equal(
    ok(parseManifest(raw, { contentType: `${DOCKER_MANIFEST_V2}; charset=utf-8` })).mediaType,
    DOCKER_MANIFEST_V2,
  );
  assert.equal(ok(parseManifest(raw)).kind, "image");
  const withType = Buffer.from(JSON.stringify({ ...body, mediaType: DOCKER_MANIFEST_V2 }));
  const clash = parseManifest(withType, { contentType: OCI_IMAGE_INDEX });
  assert.ok(clash instanceof OciError && /contradicts/.test(clash.message));
  assert.equal(ok(parseManifest(withType, { contentType: "application/octet-stream" })).kind, "image");
});

test("bad descriptors, bad JSON and oversized manifests are MANIFEST_INVALID", () => {
  const base = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json" };
  const cfg = {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: `sha256:${"1".repeat(64)}`,
    size: 2,
  };
  const bad = [
    { ...base, config: { ...cfg, size: -1 }, layers: [] },
    { ...base, config: { ...cfg, size: 1.5 }, layers: [] },
    { ...base, config: { ...cfg, digest: "sha256:abc" }, layers: [] },
    { ...base, config: cfg, layers: [{ ...cfg, mediaType: 7 }] },
    { ...base, config: cfg },
    { ...base, schemaVersion: 3, config: cfg, layers: [] },
    { ...base, mediaType: "application/x-whatever", config: cfg, layers: [] },
  ];
  for (const b of bad) {
    const r = parseManifest(Buffer.from(JSON.stringify(b)));
    assert.ok(r instanceof OciError && r.ociCode === "MANIFEST_INVALID", JSON.stringify(b).slice(0, 120));
  }
  assert.ok(parseManifest(Buffer.from("{not json")) instanceof OciError);
  assert.ok(parseManifest(Buffer.from("[]")) instanceof OciError);
  const padded = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
  const big = parseManifest(padded);
  assert.ok(big instanceof OciError && /limit/.test(big.message));
});

test("Docker Hub alpine index (re-serialized quote): children filtered by platform keep their attestations", () => {
  // SOURCES.md: this file was re-serialized from quoted values, so its digest is not checked.
  const index = ok(parseManifest(fixture("dockerhub-alpine-3.23.4", "index.as-quoted.json")));
  assert.equal(index.kind, "index");
  if (index.kind !== "index") return;
  assert.equal(index.manifests.length, 16);
  const want = ["linux/amd64", "linux/arm64"].map((p) => parsePlatform(p)).filter((p) => p !== undefined);
  const { selected, skipped } = selectIndexChildren(index, want);
  const images = selected.filter((d) => d.platform?.os === "linux");
  assert.deepEqual(
    images.map((d) => `${d.platform?.architecture}/${d.platform?.variant ?? ""}`),
    ["amd64/", "arm64/v8"],
    "arm64 matches arm64/v8",
  );
  assert.equal(selected.length, 4, "two images and their two attestations");
  for (const att of selected.filter((d) => d.platform?.os === "unknown"))
    assert.ok(images.some((i) => i.digest.value === att.annotations?.["vnd.docker.reference.digest"]));
  assert.equal(skipped.length, 12);
  const arm64 = ok(
    parseManifest(fixture("dockerhub-alpine-3.23.4", "linux-arm64-v8_manifest.as-quoted.json")),
  );
  assert.equal(arm64.kind, "image");
});

test("the regclient layout's v1 index: unknown/unknown builder descriptors follow their image", () => {
  const index = ok(
    parseManifest(
      fixture(
        "regclient-examples",
        "v1_index_with_unknown-platform_builder_descriptors.sha256-7ceb9b6bcc274697d0c38be6214b50cec79d601bc61708747d3f6cb772f6c6fa.json",
      ),
    ),
  );
  if (index.kind !== "index") return assert.fail("not an index");
  const amd64 = parsePlatform("linux/amd64");
  assert.ok(amd64);
  const { selected } = selectIndexChildren(index, [amd64]);
  const kept = new Set(selected.map((d) => d.digest.value));
  for (const d of selected) {
    const ref = d.annotations?.["vnd.docker.reference.digest"];
    if (ref) assert.ok(kept.has(ref));
    else assert.equal(d.platform?.architecture, "amd64");
  }
  assert.ok(selected.length >= 1 && selected.length < index.manifests.length);
});

test("the Accept list names every manifest type served, lists first", () => {
  assert.match(
    MANIFEST_ACCEPT,
    /^application\/vnd\.oci\.image\.index\.v1\+json, application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json/,
  );
  assert.ok(!MANIFEST_ACCEPT.includes("v1+prettyjws"));
});

test("parseManifest agrees with the digests of the regclient layout's index.json entries", () => {
  // Guard for the fixture itself: every manifest the layout's index names, if present, hashes to its name.
  const root = realWorldFixture("oci", "regclient-testrepo");
  const present = new Set(readdirSync(join(root, "blobs", "sha256")));
  const index = parseManifest(readFileSync(join(root, "index.json")));
  assert.ok(!(index instanceof OciError) && index.kind === "index");
  let checked = 0;
  for (const d of index.manifests) {
    if (!present.has(d.digest.hex)) continue;
    const m = parseManifest(readFileSync(join(root, "blobs", "sha256", d.digest.hex)), {
      expectedDigest: d.digest,
    });
    assert.ok(!(m instanceof OciError), `${d.digest.value}: ${m instanceof OciError ? m.message : ""}`);
    checked++;
  }
  assert.ok(checked > 5);
});
