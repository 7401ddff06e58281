// The mirror kinds this build knows, by config `type`: the one place that imports both
// ecosystems.
import type { MirrorKind } from "../ecosystem/mirror-kind.js";
import { ociKind } from "../oci/kind.js";
import { pypiKind } from "../pypi/kind.js";

export const MIRROR_KINDS: readonly MirrorKind[] = [pypiKind as MirrorKind, ociKind as MirrorKind];

export function kindOf(type: string): MirrorKind | undefined {
  return MIRROR_KINDS.find((kind) => kind.type === type) as MirrorKind | undefined;
}

/** Hooks and event filters that name no mirror compare with PyPI's rules (PEP 503, PEP 440). */
export const DEFAULT_SUBJECTS = pypiKind.subjects;
