// Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
// oci-layout, index.json and blobs/sha256/<hex>, with one image per platform, each a config and
// layers of chosen sizes. Layers are valid tar archives (one regular file of deterministic
// pseudo-random bytes, from AES-CTR over zeros), optionally gzip-compressed, streamed to disk:
// a large layer never sits in memory.
import { createCipheriv, createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

export interface LayoutPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface BuildLayoutOptions {
  dir: string;
  /** The tag written as org.opencontainers.image.ref.name in index.json. */
  tag: string;
  platforms: LayoutPlatform[];
  /** Uncompressed content size of each layer's file, per image. */
  layerSizes: number[];
  gzip?: boolean;
  /** Changes every byte of content; same seed, same layout. */
  seed?: string;
}

export interface BuiltImage {
  platform: LayoutPlatform;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layers: { digest: string; size: number }[];
}

export interface BuiltLayout {
  dir: string;
  tag: string;
  /** Digest of what the tag points at: the index when several platforms, else the manifest. */
  digest: string;
  images: BuiltImage[];
}

const BLOCK = 512;

/** A ustar header for one regular file (https://www.gnu.org/software/tar/manual/html_node/Standard.html). */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  h.write("00000000000\0", 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

/** The bytes of a tar holding `file` with `size` pseudo-random bytes, in chunks. */
async function* tarStream(file: string, size: number, seed: string): AsyncGenerator<Buffer> {
  yield tarHeader(file, size);
  const key = createHash("sha256").update(`key:${seed}`).digest().subarray(0, 16);
  const iv = createHash("sha256").update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, iv);
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, zeros.length);
    yield cipher.update(zeros.subarray(0, n));
    left -= n;
  }
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  // Padding to a block, then two zero blocks: the end-of-archive marker.
  yield Buffer.alloc(pad + 2 * BLOCK, 0);
}

function hashing(hash: ReturnType<typeof createHash>, counter: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      counter.n += chunk.length;
      done(null, chunk);
    },
  });
}

async function writeBlob(dir: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const hex = createHash("sha256").update(bytes).digest("hex");
  await writeFile(join(dir, "blobs", "sha256", hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** Streams one layer to blobs/; returns its digest and size, and the diff ID (digest of the tar). */
async function writeLayer(
  dir: string,
  size: number,
  seed: string,
  gzip: boolean,
): Promise<{ digest: string; size: number; diffId: string }> {
  const tmp = join(dir, "blobs", `.tmp-${createHash("sha256").update(seed).digest("hex").slice(0, 16)}`);
  const diff = createHash("sha256");
  const blob = createHash("sha256");
  const tarCount = { n: 0 };
  const blobCount = { n: 0 };
  const stages: NodeJS.ReadWriteStream[] = [hashing(diff, tarCount)];
  if (gzip) stages.push(createGzip({ level: 1 }));
  stages.push(hashing(blob, blobCount));
  await pipeline(
    Readable.from(tarStream("layer.bin", size, seed)),
    ...(stages as [Transform]),
    createWriteStream(tmp),
  );
  const hex = blob.digest("hex");
  await rename(tmp, join(dir, "blobs", "sha256", hex));
  return { digest: `sha256:${hex}`, size: blobCount.n, diffId: `sha256:${diff.digest("hex")}` };
}

export async function buildOciLayout(options: BuildLayoutOptions): Promise<BuiltLayout> {
  const { dir } = options;
  const gzip = options.gzip ?? true;
  const seed = options.seed ?? "freshmirror";
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const images: BuiltImage[] = [];
  for (const platform of options.platforms) {
    const p = `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ""}`;
    const layers: { digest: string; size: number; diffId: string }[] = [];
    for (const [i, size] of options.layerSizes.entries())
      layers.push(await writeLayer(dir, size, `${seed}:${options.tag}:${p}:${i}`, gzip));
    const config = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: "2026-01-01T00:00:00Z",
      config: { Cmd: ["/layer.bin"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({
        created: "2026-01-01T00:00:00Z",
        created_by: "freshmirror test layout builder",
      })),
    };
    const configBlob = await writeBlob(dir, Buffer.from(JSON.stringify(config)));
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob },
      layers: layers.map((l) => ({
        mediaType: gzip
          ? "application/vnd.oci.image.layer.v1.tar+gzip"
          : "application/vnd.oci.image.layer.v1.tar",
        digest: l.digest,
        size: l.size,
      })),
    };
    const manifestBlob = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)));
    images.push({
      platform,
      manifestDigest: manifestBlob.digest,
      manifestSize: manifestBlob.size,
      configDigest: configBlob.digest,
      layers: layers.map(({ digest, size }) => ({ digest, size })),
    });
  }
  let top: { mediaType: string; digest: string; size: number };
  const only = images[0];
  if (images.length === 1 && only) {
    top = {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: only.manifestDigest,
      size: only.manifestSize,
    };
  } else {
    const index = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: images.map((img) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: img.manifestDigest,
        size: img.manifestSize,
        platform: img.platform,
      })),
    };
    top = {
      mediaType: "application/vnd.oci.image.index.v1+json",
      ...(await writeBlob(dir, Buffer.from(JSON.stringify(index)))),
    };
  }
  const layoutIndex = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...top, annotations: { "org.opencontainers.image.ref.name": options.tag } }],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(layoutIndex));
  return { dir, tag: options.tag, digest: top.digest, images };
}
