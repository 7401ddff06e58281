// Platforms of an image index's children and how they are matched.
// Image spec: https://github.com/opencontainers/image-spec/blob/main/image-index.md#image-index-property-descriptions
// Normalisation follows containerd's platforms package (normalizeArch), so that "linux/arm64"
// and "linux/arm64/v8" are one platform, "aarch64" is "arm64", and "linux/arm" is "linux/arm/v7".

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

/** A platform in containerd's normal form: lower-case, canonical architecture and variant. */
export interface NormalPlatform {
  os: string;
  architecture: string;
  variant: string;
}

export function normalizePlatform(platform: {
  os: string;
  architecture: string;
  variant?: string;
}): NormalPlatform {
  const os = platform.os.toLowerCase();
  let architecture = platform.architecture.toLowerCase();
  let variant = (platform.variant ?? "").toLowerCase();
  switch (architecture) {
    case "i386":
      architecture = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      architecture = "amd64";
      // amd64 micro-architecture levels: v1 is the baseline every amd64 has.
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      else if (variant === "9" || variant === "9.0" || variant === "v9.0") variant = "v9";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
      break;
  }
  return { os, architecture, variant };
}

/** Parses `os/arch[/variant]` (`linux/amd64`, `linux/arm64/v8`); undefined if malformed. */
export function parsePlatform(text: string): NormalPlatform | undefined {
  const parts = text.trim().split("/");
  if (parts.length < 2 || parts.length > 3) return undefined;
  if (parts.some((p) => !/^[A-Za-z0-9._-]+$/.test(p))) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

export function formatPlatform(platform: NormalPlatform): string {
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant ? `${base}/${platform.variant}` : base;
}

/** True when both denote the same platform after normalisation. */
export function platformsMatch(
  a: { os: string; architecture: string; variant?: string },
  b: { os: string; architecture: string; variant?: string },
): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && x.variant === y.variant;
}
