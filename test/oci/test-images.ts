// The images the client tests pull, built as OCI layouts (oci-layout-builder.ts) and pushed into a
// registry with `skopeo copy --all`, digests kept. Each is a valid image for docker, containerd
// and podman: an image config whose rootfs.diff_ids are the sha256 of each layer's tar, and
// layers that are real gzip-compressed tar archives. Nothing in them runs; pulling needs none.
// - small: one platform (this machine's), two small layers;
// - multi, multi2: image indexes for linux/amd64 and linux/arm64/v8 (different bytes);
// - big, big2: one platform, a layer of 64 MiB + a little (generated and written streaming);
// - regclient: the real-world regclient test repository's `v3` index (buildx-built images for
//   amd64, arm64, arm/v7, arm/v6), from test/fixtures/real-world/oci/regclient-testrepo.
import { arch } from "node:os";
import { join } from "node:path";
import { realWorldFixture } from "../helpers/repo-root.js";
import { type BuiltLayout, buildOciLayout, type LayoutPlatform } from "./oci-layout-builder.js";
import { skopeoPushLayout } from "./skopeo.js";

export const BIG_LAYER_BYTES = 64 * 1024 * 1024 + 4321;

/** This machine's platform as image indexes name it. */
export function hostPlatform(): LayoutPlatform {
  const a = arch();
  if (a === "arm64") return { os: "linux", architecture: "arm64", variant: "v8" };
  if (a === "x64") return { os: "linux", architecture: "amd64" };
  return { os: "linux", architecture: a };
}

export interface TestImage {
  /** Where the image came from, to push it. */
  layoutDir: string;
  layoutTag: string;
  /** Digest of what the tag names (index or manifest). */
  digest: string;
  /** The manifest this machine's clients pick, and its config digest (docker's image ID). */
  hostManifestDigest: string;
  hostConfigDigest: string;
  /** Every layer digest of the host platform's image, with sizes. */
  hostLayers: { digest: string; size: number }[];
}

export interface TestImages {
  small: TestImage;
  multi: TestImage;
  /** Like multi, other bytes: for a second registry, so its blobs come from that upstream. */
  multi2: TestImage;
  big: TestImage;
  /** Another big image (other bytes), for a pull no client made before. */
  big2: TestImage;
  regclient: TestImage;
}

function fromLayout(layout: BuiltLayout): TestImage {
  const host = hostPlatform();
  const image =
    layout.images.find((i) => i.platform.architecture === host.architecture && i.platform.os === host.os) ??
    layout.images[0];
  if (!image) throw new Error(`layout ${layout.dir} has no image`);
  return {
    layoutDir: layout.dir,
    layoutTag: layout.tag,
    digest: layout.digest,
    hostManifestDigest: image.manifestDigest,
    hostConfigDigest: image.configDigest,
    hostLayers: image.layers,
  };
}

// The regclient v3 index and its linux/amd64 image (see test/fixtures/real-world/SOURCES.md).
const REGCLIENT_V3: TestImage = {
  layoutDir: "",
  layoutTag: "v3",
  digest: "sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d",
  hostManifestDigest: "sha256:f8c9d547514d66b562f791c361e4e9795340a7626aff22980138718689ef2a44",
  hostConfigDigest: "sha256:2097cbe98aab004aa60148c1b49515a86cd1ff514310dcf8654313259aad0b12",
  hostLayers: [],
};

/** Builds the layouts under `dir` (about 140 MiB on disk; 1 MiB without the big ones). */
export async function buildTestImages(dir: string, options: { big?: boolean } = {}): Promise<TestImages> {
  const host = hostPlatform();
  const small = await buildOciLayout({
    dir: join(dir, "small"),
    tag: "1.0",
    platforms: [host],
    layerSizes: [20_000, 3_000],
    seed: "client-small",
  });
  const multi = await buildOciLayout({
    dir: join(dir, "multi"),
    tag: "2.0",
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ],
    layerSizes: [50_000, 1_000],
    seed: "client-multi",
  });
  const multi2 = await buildOciLayout({
    dir: join(dir, "multi2"),
    tag: "2.0",
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ],
    layerSizes: [40_000, 2_000],
    seed: "client-multi-2",
  });
  const big =
    options.big === false
      ? small
      : await buildOciLayout({
          dir: join(dir, "big"),
          tag: "1.0",
          platforms: [host],
          layerSizes: [BIG_LAYER_BYTES, 2_000],
          seed: "client-big",
        });
  const big2 =
    options.big === false
      ? small
      : await buildOciLayout({
          dir: join(dir, "big2"),
          tag: "1.0",
          platforms: [host],
          layerSizes: [BIG_LAYER_BYTES, 2_000],
          seed: "client-big-2",
        });
  return {
    small: fromLayout(small),
    multi: fromLayout(multi),
    multi2: fromLayout(multi2),
    big: fromLayout(big),
    big2: fromLayout(big2),
    regclient: { ...REGCLIENT_V3, layoutDir: realWorldFixture("oci", "regclient-testrepo") },
  };
}

/** `skopeo copy --all --preserve-digests` of one test image to `<registryHost>/<name>:<tag>`. */
export async function pushTestImage(
  image: TestImage,
  registryHost: string,
  name: string,
  tag: string,
  options: { dir: string; creds?: string },
): Promise<void> {
  const digest = await skopeoPushLayout(image.layoutDir, image.layoutTag, registryHost, name, tag, options);
  if (digest !== image.digest)
    throw new Error(`skopeo pushed ${name}:${tag} as ${digest}, the layout has ${image.digest}`);
}
