// The registry's pull API under `/v2/`, for every OCI mirror on one endpoint:
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints
// Which mirror answers:
// - `?ns=<registry>` (containerd's hosts.toml mirrors): the mirror whose `registry` is that name,
//   answered with an `OCI-Namespace` header;
// - `/v2/<mirror>/<name>/...`: the mirror of that config name (skopeo, podman, `docker pull
//   HOST/ghcr/org/img:tag`);
// - otherwise the mirror of `docker.io` (what Docker's `registry-mirrors` sends), where a name
//   without a slash is an official image under `library/`.
// Pushes get 405 UNSUPPORTED; every error is the spec's JSON body. An upstream whose circuit
// breaker is open (max_fails) is answered 503 with Retry-After (429 TOOMANYREQUESTS when rate
// limiting opened it).
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  FreshmirrorError,
  TooManyFileResponsesError,
  UpstreamCircuitOpenError,
  UpstreamStatusError,
} from "../errors.js";
import type { RouteResult } from "../http/route-handler.js";
import type { Logger } from "../logging/logger.js";
import { type BlobPullThroughDeps, type OciMirrorParts, sendBlob } from "./blob-pull-through.js";
import { DOCKER_HUB, upstreamRepository } from "./config-schema.js";
import type { ManifestPullThrough } from "./manifest-pull-through.js";
import { parseRegistryPath, type RegistryRoute } from "./reference.js";
import { OciError, ociErrorResponse } from "./registry-errors.js";

/** Counts of what each mirror served: cache outcomes of manifests and blobs, bytes from upstream. */
export interface OciCounters {
  /** `HIT`, `MISS` or `COALESCED` -> requests (manifests count as HIT or MISS). */
  readonly cache: Map<"HIT" | "MISS" | "COALESCED", number>;
  /** Manifests served stale because upstream could not be asked. */
  stale: number;
}

export function newOciCounters(): OciCounters {
  return { cache: new Map(), stale: 0 };
}

export interface OciMirrorEntry extends OciMirrorParts {
  readonly counters: OciCounters;
}

export interface OciRoutesDeps extends BlobPullThroughDeps {
  manifestCache: ManifestPullThrough;
  logger: Logger;
}

const PUSH_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const MAX_TAGS_PAGE = 10_000;

/** Chooses the mirror and the repository name a request is for. */
export function selectMirror(
  mirrors: readonly OciMirrorEntry[],
  rest: string,
  ns: string | null,
): { mirror: OciMirrorEntry; path: string; namespace: string | undefined } | { error: OciError } {
  if (ns !== null) {
    const mirror = mirrors.find((m) => m.config.registry === ns);
    if (!mirror)
      return {
        error: new OciError(
          "NAME_UNKNOWN",
          `this mirror does not serve registry ${JSON.stringify(ns.slice(0, 255))}`,
        ),
      };
    return { mirror, path: `/v2/${rest}`, namespace: ns };
  }
  const slash = rest.indexOf("/");
  if (slash > 0) {
    const first = rest.slice(0, slash);
    const byName = mirrors.find((m) => m.config.name === first);
    // `/v2/<mirror>/<name>/<endpoint>/<ref>`: at least a name after the mirror's.
    if (byName && rest.slice(slash + 1).split("/").length >= 3)
      return { mirror: byName, path: `/v2/${rest.slice(slash + 1)}`, namespace: undefined };
  }
  const hub = mirrors.find((m) => m.config.registry === DOCKER_HUB);
  if (!hub)
    return {
      error: new OciError(
        "NAME_UNKNOWN",
        "no mirror of docker.io here; name a mirror: /v2/<mirror>/<name>/...",
        {
          hint: `mirrors: ${mirrors.map((m) => m.config.name).join(", ")}`,
        },
      ),
    };
  return { mirror: hub, path: `/v2/${rest}`, namespace: undefined };
}

export class OciRoutes {
  readonly #deps: OciRoutesDeps;
  readonly #mirrors: OciMirrorEntry[] = [];

  constructor(deps: OciRoutesDeps) {
    this.#deps = deps;
  }

  add(mirror: OciMirrorEntry): void {
    this.#mirrors.push(mirror);
  }

  /** Answers any request under `/v2` (`rest` is the raw path after `/v2/`, query without it). */
  async handle(req: IncomingMessage, res: ServerResponse, rest: string, query: string): Promise<RouteResult> {
    res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    let mirrorName: string | undefined;
    try {
      const method = req.method ?? "GET";
      if (PUSH_METHODS.has(method))
        throw new OciError("UNSUPPORTED", `${method}: this registry is a read-only mirror`);
      if (method !== "GET" && method !== "HEAD")
        throw new OciError("UNSUPPORTED", `${method} is not supported`, { status: 405 });
      const params = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
      if (rest === "") return this.#base(req, res, params.get("ns"));
      const picked = selectMirror(this.#mirrors, rest, params.get("ns"));
      if ("error" in picked) throw picked.error;
      const { mirror } = picked;
      mirrorName = mirror.config.name;
      if (picked.namespace !== undefined) res.setHeader("OCI-Namespace", picked.namespace);
      const parsed = parseRegistryPath(picked.path, mirror.config.registry.length);
      if (!parsed.ok) throw parsed.error;
      const result = await this.#serve(req, res, mirror, parsed.route, params);
      return { ...result, mirror: mirror.config.name };
    } catch (error) {
      return {
        ...this.#sendError(req, res, error, mirrorName),
        ...(mirrorName ? { mirror: mirrorName } : {}),
      };
    }
  }

  #base(req: IncomingMessage, res: ServerResponse, ns: string | null): RouteResult {
    if (ns !== null) {
      if (!this.#mirrors.some((m) => m.config.registry === ns))
        throw new OciError(
          "NAME_UNKNOWN",
          `this mirror does not serve registry ${JSON.stringify(ns.slice(0, 255))}`,
        );
      res.setHeader("OCI-Namespace", ns);
    }
    const body = "{}";
    res.statusCode = 200;
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", body.length);
    res.end(req.method === "HEAD" ? undefined : body);
    return { route: "oci_base", status: 200, bytes: 0 };
  }

  async #serve(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: OciMirrorEntry,
    route: RegistryRoute,
    params: URLSearchParams,
  ): Promise<RouteResult> {
    if (route.kind === "base") return this.#base(req, res, null);
    const repository = upstreamRepository(mirror.config.registry, route.name);
    if (route.kind === "manifest") {
      const served = await this.#deps.manifestCache.get(
        mirror.config,
        mirror.client,
        repository,
        route.reference,
      );
      this.#count(mirror, served.cache);
      if (served.stale) {
        mirror.counters.stale++;
        res.setHeader("Warning", '110 - "Response is Stale"');
      }
      res.statusCode = 200;
      res.setHeader("Content-Type", served.mediaType);
      res.setHeader("Docker-Content-Digest", served.digest);
      res.setHeader("ETag", `"${served.digest}"`);
      res.setHeader("Content-Length", served.bytes.length);
      res.setHeader("X-Cache", served.cache);
      res.end(req.method === "HEAD" ? undefined : served.bytes);
      return {
        route: "oci_manifest",
        status: 200,
        bytes: req.method === "HEAD" ? 0 : served.bytes.length,
        cache: served.cache,
      };
    }
    if (route.kind === "blob") {
      const result = await sendBlob(this.#deps, req, res, mirror, repository, route.digest);
      this.#count(mirror, result.cache);
      return result;
    }
    if (route.kind === "tags") return this.#tags(req, res, mirror, repository, route.name, params);
    throw new OciError("UNSUPPORTED", "the referrers API is not mirrored", { status: 404 });
  }

  /** The tag list, proxied upstream page by page (`n`, `last`, and a `Link` to the next page). */
  async #tags(
    req: IncomingMessage,
    res: ServerResponse,
    mirror: OciMirrorEntry,
    repository: string,
    name: string,
    params: URLSearchParams,
  ): Promise<RouteResult> {
    const nRaw = params.get("n");
    const last = params.get("last") ?? undefined;
    if (nRaw !== null && !/^\d{1,6}$/.test(nRaw))
      throw new OciError("UNSUPPORTED", `n must be a number, not ${JSON.stringify(nRaw.slice(0, 20))}`, {
        status: 400,
      });
    const n = nRaw === null ? undefined : Math.min(Number(nRaw), MAX_TAGS_PAGE);
    const page = await mirror.client.listTags(repository, {
      ...(n === undefined ? {} : { n }),
      ...(last === undefined ? {} : { last }),
    });
    // The spec's order is lexical; distribution 2.8 sends every tag unordered, whatever `n` and
    // `last` say, so the page is made here: sorted, after `last`, at most `n`.
    let tags = [...page.tags].sort();
    if (last !== undefined) tags = tags.filter((t) => t > last);
    let nextLast = page.nextLast;
    if (n !== undefined && tags.length > n) {
      tags = tags.slice(0, n);
      nextLast = tags.at(-1);
    }
    if (nextLast !== undefined) {
      const next = new URLSearchParams();
      if (n !== undefined) next.set("n", String(n));
      next.set("last", nextLast);
      const ns = params.get("ns");
      if (ns !== null) next.set("ns", ns);
      res.setHeader("Link", `<${(req.url ?? "").split("?")[0]}?${next}>; rel="next"`);
    }
    const body = JSON.stringify({ name, tags });
    res.statusCode = 200;
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.end(req.method === "HEAD" ? undefined : body);
    return { route: "oci_tags", status: 200, bytes: Buffer.byteLength(body) };
  }

  #count(mirror: OciMirrorEntry, cache: "HIT" | "MISS" | "COALESCED"): void {
    mirror.counters.cache.set(cache, (mirror.counters.cache.get(cache) ?? 0) + 1);
  }

  /** Every error as the spec's JSON body (what docker, containerd and skopeo read). */
  #sendError(req: IncomingMessage, res: ServerResponse, error: unknown, mirror?: string): RouteResult {
    const oci = toOciError(error);
    if (!(error instanceof FreshmirrorError))
      this.#deps.logger.error(
        { err: error, method: req.method, url: req.url },
        "freshmirror: OCI request failed",
      );
    else if (oci.status >= 500)
      // Upstream failed us (or lied): the operator should hear of it, not only the client.
      this.#deps.logger.warn({ err: error, mirror }, `${mirror ?? "oci"}: ${error.code} ${error.message}`);
    if (res.headersSent) {
      res.destroy();
      return { route: "oci_error", status: oci.status, bytes: 0 };
    }
    const answer = ociErrorResponse(oci);
    const { status, headers } = answer;
    // The spec has no code for a server's own failure; distribution answers UNKNOWN. Being busy
    // (max_file_responses) has one: TOOMANYREQUESTS, with the 503 and Retry-After.
    const body =
      status >= 500 && !(error instanceof OciError) && oci.ociCode !== "TOOMANYREQUESTS"
        ? Buffer.from(JSON.stringify({ errors: [{ code: "UNKNOWN", message: oci.message }] }))
        : answer.body;
    headers["content-length"] = String(body.length);
    res.statusCode = status;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.setHeader("Cache-Control", "no-store");
    res.end(req.method === "HEAD" ? undefined : body);
    return { route: "oci_error", status, bytes: 0 };
  }
}

/** The spec error a failure is answered with; our own failures keep their status (502, 504, 507). */
export function toOciError(error: unknown): OciError {
  if (error instanceof OciError) {
    // An upstream's UNAUTHORIZED/DENIED is ours to solve (credentials), not the client's: a 401
    // would make the client try to log in to us.
    if (error.ociCode === "UNAUTHORIZED" || error.ociCode === "DENIED")
      return new OciError("DENIED", error.message, { status: 403, hint: error.hint, cause: error });
    return error;
  }
  if (error instanceof TooManyFileResponsesError)
    return new OciError("TOOMANYREQUESTS", error.message, {
      status: error.status,
      retryAfterSeconds: error.retryAfterSeconds,
    });
  if (error instanceof UpstreamCircuitOpenError) {
    // The breaker (max_fails) refuses upstream requests until fail_timeout ends: the client is
    // told when to come back. Opened by rate limiting, it is still rate limiting (429
    // TOOMANYREQUESTS); opened by failures, upstream is unavailable (503, UNKNOWN as distribution
    // answers its own failures).
    const retryAfterSeconds = Math.max(1, Math.ceil((error.untilMs - Date.now()) / 1000));
    const rateLimited = error.cause instanceof UpstreamStatusError && error.cause.upstreamStatus === 429;
    return rateLimited
      ? new OciError("TOOMANYREQUESTS", error.message, { retryAfterSeconds, cause: error })
      : new OciError("UNSUPPORTED", error.message, {
          status: 503,
          retryAfterSeconds,
          hint: error.hint,
          cause: error,
        });
  }
  if (error instanceof FreshmirrorError) {
    const code = error.status === 404 ? "NAME_UNKNOWN" : "UNSUPPORTED";
    return new OciError(code, error.message, { status: error.status, hint: error.hint, cause: error });
  }
  return new OciError("UNSUPPORTED", "internal error", { status: 500, cause: error });
}
