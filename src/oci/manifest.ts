// Parses a manifest from its raw bytes. The bytes are the manifest: its digest is the hash of
// exactly those bytes (https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests),
// so they are kept and served as they came, never re-serialized from the parsed object.
// Image manifest: https://github.com/opencontainers/image-spec/blob/main/manifest.md
// Image index: https://github.com/opencontainers/image-spec/blob/main/image-index.md
// Docker schema 2 (same shape): https://github.com/distribution/distribution/blob/main/docs/content/spec/manifest-v2-2.md
import { createHash } from "node:crypto";
import { baseMediaType, type ManifestKind, manifestKindOf } from "./media-types.js";
import type { Platform } from "./platform.js";
import { type Digest, parseDigest } from "./reference.js";
import { OciError } from "./registry-errors.js";

/**
 * Largest manifest accepted: 4 MiB, the limit the distribution spec lets registries set
 * ("registries SHOULD accept manifests of at least 4 MiB") and what distribution and containerd enforce.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  artifactType?: string;
  urls?: string[];
}

interface ManifestCommon {
  /** Media type from the `mediaType` field, else from Content-Type. */
  mediaType: string;
  /** Digest of the raw bytes, in the algorithm asked for (sha256 unless the expected digest is sha512). */
  digest: Digest;
  size: number;
  raw: Buffer;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface ImageManifest extends ManifestCommon {
  kind: "image";
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex extends ManifestCommon {
  kind: "index";
  manifests: Descriptor[];
}

export type Manifest = ImageManifest | ImageIndex;

export interface ParseManifestOptions {
  /** The response's Content-Type, used when the manifest has no `mediaType` field. */
  contentType?: string;
  /** When fetched by digest: the raw bytes must hash to it. */
  expectedDigest?: Digest;
}

/** Hashes bytes with the given algorithm into a Digest. */
export function digestOf(bytes: Buffer, algorithm: Digest["algorithm"] = "sha256"): Digest {
  const hex = createHash(algorithm).update(bytes).digest("hex");
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

function invalid(message: string, detail?: unknown): OciError {
  return new OciError("MANIFEST_INVALID", message, detail === undefined ? {} : { detail });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, where: string): Record<string, string> | OciError | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || Object.values(value).some((v) => typeof v !== "string"))
    return invalid(`${where}: annotations must map strings to strings`);
  return value as Record<string, string>;
}

function parsePlatformField(value: unknown, where: string): Platform | OciError | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || typeof value.os !== "string" || typeof value.architecture !== "string")
    return invalid(`${where}: platform needs string "os" and "architecture"`);
  const platform: Platform = { os: value.os, architecture: value.architecture };
  if (typeof value.variant === "string") platform.variant = value.variant;
  if (typeof value["os.version"] === "string") platform["os.version"] = value["os.version"];
  if (Array.isArray(value["os.features"]) && value["os.features"].every((f) => typeof f === "string"))
    platform["os.features"] = value["os.features"] as string[];
  return platform;
}

/** Validates one descriptor (https://github.com/opencontainers/image-spec/blob/main/descriptor.md). */
export function parseDescriptor(value: unknown, where: string): Descriptor | OciError {
  if (!isRecord(value)) return invalid(`${where}: descriptor is not an object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== "string" || mediaType.length === 0 || mediaType.length > 255)
    return invalid(`${where}: descriptor has no valid mediaType`);
  if (typeof digest !== "string") return invalid(`${where}: descriptor has no digest`);
  const parsed = parseDigest(digest);
  if (parsed instanceof OciError) return invalid(`${where}: ${parsed.message}`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    return invalid(`${where}: descriptor size must be a non-negative integer`);
  const descriptor: Descriptor = { mediaType, digest: parsed, size };
  const platform = parsePlatformField(value.platform, where);
  if (platform instanceof OciError) return platform;
  if (platform) descriptor.platform = platform;
  const annotations = stringMap(value.annotations, where);
  if (annotations instanceof OciError) return annotations;
  if (annotations) descriptor.annotations = annotations;
  if (typeof value.artifactType === "string") descriptor.artifactType = value.artifactType;
  if (Array.isArray(value.urls) && value.urls.every((u) => typeof u === "string"))
    descriptor.urls = value.urls as string[];
  return descriptor;
}

function parseDescriptorList(value: unknown, where: string): Descriptor[] | OciError {
  if (!Array.isArray(value)) return invalid(`${where} is not an array`);
  const out: Descriptor[] = [];
  for (const [i, entry] of value.entries()) {
    const descriptor = parseDescriptor(entry, `${where}[${i}]`);
    if (descriptor instanceof OciError) return descriptor;
    out.push(descriptor);
  }
  return out;
}

/** Which kind the manifest is: its `mediaType` field wins; Content-Type must not contradict it. */
function resolveMediaType(
  body: Record<string, unknown>,
  contentType: string | undefined,
): { mediaType: string; kind: ManifestKind } | OciError {
  const field = typeof body.mediaType === "string" ? body.mediaType : undefined;
  const header = contentType === undefined ? undefined : baseMediaType(contentType);
  const headerKind = header === undefined ? undefined : manifestKindOf(header);
  if (field !== undefined) {
    const kind = manifestKindOf(field);
    if (kind === undefined)
      return invalid(`unknown manifest mediaType ${JSON.stringify(field.slice(0, 100))}`);
    if (headerKind !== undefined && header !== field)
      return invalid(`Content-Type ${header} contradicts the manifest's mediaType ${field}`);
    return { mediaType: field, kind };
  }
  if (body.schemaVersion === 1)
    return { mediaType: header ?? "application/vnd.docker.distribution.manifest.v1+json", kind: "schema1" };
  if (header !== undefined && headerKind !== undefined) return { mediaType: header, kind: headerKind };
  // OCI 1.0 made mediaType optional; tell an index from a manifest by its fields, as containerd does.
  if (Array.isArray(body.manifests))
    return { mediaType: "application/vnd.oci.image.index.v1+json", kind: "index" };
  if (isRecord(body.config) && Array.isArray(body.layers))
    return { mediaType: "application/vnd.oci.image.manifest.v1+json", kind: "image" };
  return invalid("cannot tell the manifest's type: no mediaType field and no manifest Content-Type");
}

/**
 * Parses and validates a manifest from its raw bytes. Returns the parsed manifest holding the
 * same bytes, or a spec error (MANIFEST_INVALID, DIGEST_INVALID for a digest mismatch).
 */
export function parseManifest(raw: Buffer, options: ParseManifestOptions = {}): Manifest | OciError {
  if (raw.length > MAX_MANIFEST_BYTES)
    return invalid(`manifest is ${raw.length} bytes, more than the limit of ${MAX_MANIFEST_BYTES}`);
  const digest = digestOf(raw, options.expectedDigest?.algorithm ?? "sha256");
  if (options.expectedDigest && options.expectedDigest.value !== digest.value)
    return new OciError(
      "DIGEST_INVALID",
      `manifest bytes hash to ${digest.value}, not ${options.expectedDigest.value}`,
    );
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    return invalid(`manifest is not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(body)) return invalid("manifest is not a JSON object");
  const type = resolveMediaType(body, options.contentType);
  if (type instanceof OciError) return type;
  if (type.kind === "schema1")
    return invalid(
      "Docker schema 1 manifests are not supported; the image must be pushed again with schema 2 or OCI",
      {
        mediaType: type.mediaType,
      },
    );
  if (body.schemaVersion !== 2) return invalid("manifest schemaVersion must be 2");
  const common: ManifestCommon = { mediaType: type.mediaType, digest, size: raw.length, raw };
  if (body.subject !== undefined) {
    const subject = parseDescriptor(body.subject, "subject");
    if (subject instanceof OciError) return subject;
    common.subject = subject;
  }
  const annotations = stringMap(body.annotations, "manifest");
  if (annotations instanceof OciError) return annotations;
  if (annotations) common.annotations = annotations;
  if (typeof body.artifactType === "string") common.artifactType = body.artifactType;
  if (type.kind === "index") {
    const manifests = parseDescriptorList(body.manifests, "manifests");
    if (manifests instanceof OciError) return manifests;
    return { kind: "index", ...common, manifests };
  }
  const config = parseDescriptor(body.config, "config");
  if (config instanceof OciError) return config;
  const layers = parseDescriptorList(body.layers, "layers");
  if (layers instanceof OciError) return layers;
  return { kind: "image", ...common, config, layers };
}

/** Every descriptor a manifest references: config and layers, or child manifests; and its subject. */
export function referencedDescriptors(manifest: Manifest): Descriptor[] {
  const own = manifest.kind === "index" ? manifest.manifests : [manifest.config, ...manifest.layers];
  return manifest.subject ? [...own, manifest.subject] : own;
}
