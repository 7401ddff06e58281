// Repository names, tags, digests and registry request paths, as the OCI distribution spec
// defines them: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
// Digest grammar: https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
// Everything here is pure; hostile input gives a spec error, never an exception.
import { OciError } from "./registry-errors.js";

// One path component of a name; a name is components joined by "/". The spec's regex is
// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
const NAME_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
const SHA512_RE = /^sha512:[a-f0-9]{128}$/;
// The image spec's general digest grammar, to tell "unsupported algorithm" from "not a digest".
const DIGEST_GRAMMAR_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Longest name accepted. The spec lets registries cap name plus registry hostname at 255
 * characters (docker's reference package does); callers pass the hostname length they serve under.
 */
export const MAX_NAME_WITH_HOST = 255;
/** Longest request path looked at; anything longer is refused before any regex runs. */
export const MAX_REQUEST_PATH = 2048;

export type DigestAlgorithm = "sha256" | "sha512";

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `algorithm:hex`, as written in manifests and URLs. */
  value: string;
}

/** Checks a repository name; `hostLength` is the length of the registry host it is served under. */
export function validateName(name: string, hostLength = 0): OciError | undefined {
  if (name.length === 0) return new OciError("NAME_INVALID", "repository name is empty");
  // Counting the "/" between host and name, as `host/name` is what the limit applies to.
  const total = name.length + (hostLength > 0 ? hostLength + 1 : 0);
  if (total > MAX_NAME_WITH_HOST)
    return new OciError(
      "NAME_INVALID",
      `repository name is ${name.length} characters; at most ${MAX_NAME_WITH_HOST} with the registry host`,
    );
  if (!NAME_RE.test(name))
    return new OciError("NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`, {
      hint: "lower-case letters, digits and . _ __ - separators, components joined by /",
    });
  return undefined;
}

export function isValidName(name: string): boolean {
  return validateName(name) === undefined;
}

export function validateTag(tag: string): OciError | undefined {
  if (!TAG_RE.test(tag))
    return new OciError("TAG_INVALID", `invalid tag ${JSON.stringify(tag.slice(0, 200))}`, {
      hint: "a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
    });
  return undefined;
}

/** Parses `sha256:<64 hex>` or `sha512:<128 hex>`; other algorithms are refused as unsupported. */
export function parseDigest(value: string): Digest | OciError {
  if (SHA256_RE.test(value)) return { algorithm: "sha256", hex: value.slice(7), value };
  if (SHA512_RE.test(value)) return { algorithm: "sha512", hex: value.slice(7), value };
  const shown = JSON.stringify(value.slice(0, 200));
  if (DIGEST_GRAMMAR_RE.test(value)) {
    const algorithm = value.slice(0, value.indexOf(":"));
    if (algorithm === "sha256" || algorithm === "sha512")
      return new OciError("DIGEST_INVALID", `malformed ${algorithm} digest ${shown}`);
    return new OciError("DIGEST_INVALID", `unsupported digest algorithm "${algorithm}" in ${shown}`, {
      hint: "only sha256 and sha512 digests are supported",
    });
  }
  return new OciError("DIGEST_INVALID", `invalid digest ${shown}`);
}

export function isDigest(value: string): boolean {
  return !(parseDigest(value) instanceof OciError);
}

export type ManifestReference = { kind: "tag"; tag: string } | { kind: "digest"; digest: Digest };

/** A manifest reference is a digest when it holds ":" (tags cannot), else a tag. */
export function parseManifestReference(ref: string): ManifestReference | OciError {
  if (ref.includes(":")) {
    const digest = parseDigest(ref);
    return digest instanceof OciError ? digest : { kind: "digest", digest };
  }
  const bad = validateTag(ref);
  return bad ?? { kind: "tag", tag: ref };
}

/** What a `/v2/...` request path asks for. */
export type RegistryRoute =
  | { kind: "base" }
  | { kind: "manifest"; name: string; reference: ManifestReference }
  | { kind: "blob"; name: string; digest: Digest }
  | { kind: "tags"; name: string }
  | { kind: "referrers"; name: string; digest: Digest };

export type RegistryRouteResult = { ok: true; route: RegistryRoute } | { ok: false; error: OciError };

function fail(error: OciError): RegistryRouteResult {
  return { ok: false, error };
}

/**
 * Splits a request path (`/v2/<name>/manifests/<ref>`, `/v2/<name>/blobs/<digest>`,
 * `/v2/<name>/tags/list`, `/v2/<name>/referrers/<digest>`, `/v2/`) into name and endpoint.
 * Names hold slashes but references never do, so the endpoint is read from the last segments:
 * `/v2/a/manifests/b/manifests/latest` is tag "latest" of repository "a/manifests/b".
 * The path must be the raw one from the request line (a query string is ignored); percent-escapes
 * are refused, except `%3A` in a digest reference, which some clients send for ":".
 */
export function parseRegistryPath(rawPath: string, hostLength = 0): RegistryRouteResult {
  if (rawPath.length > MAX_REQUEST_PATH)
    return fail(new OciError("NAME_INVALID", `request path is longer than ${MAX_REQUEST_PATH} characters`));
  const queryAt = rawPath.indexOf("?");
  const path = queryAt === -1 ? rawPath : rawPath.slice(0, queryAt);
  if (path === "/v2" || path === "/v2/") return { ok: true, route: { kind: "base" } };
  if (!path.startsWith("/v2/"))
    return fail(new OciError("NAME_INVALID", "request path does not start with /v2/"));
  const segments = path.slice(4).split("/");
  if (segments.length < 3) return fail(new OciError("NAME_INVALID", "request path names no endpoint"));
  const last = segments[segments.length - 1] as string;
  const endpoint = segments[segments.length - 2] as string;
  let nameSegments: string[];
  let route: (name: string) => RegistryRouteResult;
  if (endpoint === "manifests" || endpoint === "blobs" || endpoint === "referrers") {
    nameSegments = segments.slice(0, -2);
    const ref = last.replace(/%3a/gi, ":");
    if (ref.includes("%"))
      return fail(new OciError("NAME_INVALID", "percent-escapes are not allowed in references"));
    if (endpoint === "manifests") {
      route = (name) => {
        const reference = parseManifestReference(ref);
        return reference instanceof OciError
          ? fail(reference)
          : { ok: true, route: { kind: "manifest", name, reference } };
      };
    } else {
      route = (name) => {
        const digest = parseDigest(ref);
        if (digest instanceof OciError) return fail(digest);
        return {
          ok: true,
          route: endpoint === "blobs" ? { kind: "blob", name, digest } : { kind: "referrers", name, digest },
        };
      };
    }
  } else if (endpoint === "tags" && last === "list") {
    nameSegments = segments.slice(0, -2);
    route = (name) => ({ ok: true, route: { kind: "tags", name } });
  } else {
    return fail(new OciError("NAME_INVALID", "unknown registry endpoint"));
  }
  const name = nameSegments.join("/");
  // The name regex already refuses "", ".", "..", "%", NUL and upper case; the message says which
  // rule failed without echoing an overlong or binary name back.
  const bad = validateName(name, hostLength);
  if (bad) return fail(bad);
  return route(name);
}
