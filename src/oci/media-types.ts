// Manifest media types a registry serves.
// OCI: https://github.com/opencontainers/image-spec/blob/main/media-types.md
// Docker schema 2: https://github.com/distribution/distribution/blob/main/docs/content/spec/manifest-v2-2.md
// Schema 1 (signed JSON) is recognised only to be refused: docker dropped support for it, Docker
// Hub no longer serves it, and its digest rules (signatures stripped before hashing) differ.

export const OCI_IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_IMAGE_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json";
export const DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";

export const OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json";
export const DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json";
/** The empty descriptor's type, used as the config of artifacts (image-spec 1.1). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

export type ManifestKind = "image" | "index" | "schema1";

const KINDS: ReadonlyMap<string, ManifestKind> = new Map([
  [OCI_IMAGE_MANIFEST, "image"],
  [DOCKER_MANIFEST_V2, "image"],
  [OCI_IMAGE_INDEX, "index"],
  [DOCKER_MANIFEST_LIST, "index"],
  [DOCKER_MANIFEST_V1, "schema1"],
  [DOCKER_MANIFEST_V1_SIGNED, "schema1"],
]);

/**
 * The Accept header for manifest requests: every type we serve. Without the list types a registry
 * answers a multi-platform tag with one platform's manifest (or a 404), so they go first.
 * Schema 1 is left out so that registries which still convert never hand it to us.
 */
export const MANIFEST_ACCEPT = [
  OCI_IMAGE_INDEX,
  DOCKER_MANIFEST_LIST,
  OCI_IMAGE_MANIFEST,
  DOCKER_MANIFEST_V2,
].join(", ");

/** The media type of a Content-Type header value: parameters dropped, lower-cased. */
export function baseMediaType(contentType: string): string {
  const semi = contentType.indexOf(";");
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** The manifest kind for a media type (or Content-Type value), undefined when not a manifest type. */
export function manifestKindOf(mediaType: string): ManifestKind | undefined {
  return KINDS.get(baseMediaType(mediaType));
}

export function isManifestMediaType(mediaType: string): boolean {
  const kind = manifestKindOf(mediaType);
  return kind === "image" || kind === "index";
}
