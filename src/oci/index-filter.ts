// Picks the children of an image index to mirror for a set of platforms.
// BuildKit adds attestation manifests as children with platform unknown/unknown and annotations
// pointing at the image they describe:
// https://github.com/moby/buildkit/blob/master/docs/attestations/attestation-storage.md
// Those are kept exactly when the image they describe is kept, so that a filtered index still
// carries the provenance of what it holds.
import type { Descriptor, ImageIndex } from "./manifest.js";
import { type NormalPlatform, platformsMatch } from "./platform.js";

const REFERENCE_TYPE = "vnd.docker.reference.type";
const REFERENCE_DIGEST = "vnd.docker.reference.digest";

export interface IndexSelection {
  selected: Descriptor[];
  skipped: Descriptor[];
}

export function isAttestation(descriptor: Descriptor): boolean {
  return descriptor.annotations?.[REFERENCE_TYPE] === "attestation-manifest";
}

/**
 * Splits an index's children into those for `platforms` and the rest. Children without a
 * platform (nested indexes, artifacts) are kept: nothing says they are for another platform.
 */
export function selectIndexChildren(index: ImageIndex, platforms: readonly NormalPlatform[]): IndexSelection {
  const wanted = (d: Descriptor): boolean =>
    d.platform === undefined ||
    platforms.some((p) => platformsMatch(p, d.platform as NonNullable<Descriptor["platform"]>));
  const keptImages = new Set(
    index.manifests
      .filter((d) => d.annotations?.[REFERENCE_DIGEST] === undefined && wanted(d))
      .map((d) => d.digest.value),
  );
  const selected: Descriptor[] = [];
  const skipped: Descriptor[] = [];
  for (const d of index.manifests) {
    // Any child that points at another (attestations, buildx "builder" descriptors) follows it.
    const refersTo = d.annotations?.[REFERENCE_DIGEST];
    const keep = refersTo !== undefined ? keptImages.has(refersTo) : keptImages.has(d.digest.value);
    (keep ? selected : skipped).push(d);
  }
  return { selected, skipped };
}
