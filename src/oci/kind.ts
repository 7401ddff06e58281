// The `type: oci` MirrorKind: container registries (Docker Hub, ghcr.io, nvcr.io, ...) mirrored by
// pull-through, all on one `/v2/` endpoint. Registered at the composition root
// (src/app/mirror-kinds.ts). Each mirror's registry client sends through the upstream client the
// root built for the mirror (`handle.client`), whose host policy this kind sets.
import type { MirrorKind, MirrorRuntime } from "../ecosystem/mirror-kind.js";
import type { RouteHandler } from "../http/route-handler.js";
import type { RouteTable } from "../http/route-table.js";
import {
  type OciMirrorConfig,
  ociMirrorProblems,
  ociMirrorSchema,
  ociRegistryClashes,
  resolveOciMirror,
} from "./config-schema.js";
import { renderOciHelp } from "./help-section.js";
import { ManifestPullThrough } from "./manifest-pull-through.js";
import { newOciCounters, type OciCounters, OciRoutes } from "./oci-routes.js";
import { ociSyncStep, presyncMirrorOf } from "./oci-sync-step.js";
import { RegistryClient } from "./registry-client.js";
import { ociSubjectMatcher } from "./subject-matcher.js";
import { ociWatchProbe } from "./watch-probe.js";

type ParsedOciMirror = Parameters<typeof resolveOciMirror>[1];

/** An OCI mirror's runtime: the generic runtime plus what metrics and status read. */
export interface OciMirrorRuntime extends MirrorRuntime<OciMirrorConfig> {
  readonly registryClient: RegistryClient;
  /** Cache outcomes (HIT/MISS/COALESCED) and stale answers of this mirror since start. */
  readonly counters: OciCounters;
}

export const ociKind: MirrorKind<OciMirrorConfig> = {
  type: "oci",
  schema: ociMirrorSchema,
  check: (name, parsed) => ociMirrorProblems(name, parsed as ParsedOciMirror),
  checkAll: (mirrors) => ociRegistryClashes(mirrors),
  resolve: (name, parsed, env, problems) => resolveOciMirror(name, parsed as ParsedOciMirror, env, problems),
  // Subjects are `repository:tag`: `project:` a repository, `versions:` a tag or /regex/.
  subjects: ociSubjectMatcher,
  // Registries redirect blob GETs to storage hosts nobody can list, and name their token realm.
  hostPolicy: "follow-upstream",
  open(deps) {
    const manifestCache = new ManifestPullThrough({
      blobs: deps.blobs,
      manifests: deps.state.manifests,
      blobRecords: deps.state.blobs,
      onUpstreamFailure: deps.onUpstreamFailure,
      logger: deps.logger,
    });
    const routes = new OciRoutes({
      blobs: deps.blobs,
      blobRecords: deps.state.blobs,
      proxyCache: deps.state.proxyCache,
      maxCacheSize: deps.config.maxCacheSize,
      manifests: deps.state.manifests,
      limiter: deps.fileResponses,
      sendTimeoutMs: deps.config.sendTimeoutMs,
      logger: deps.logger,
      manifestCache,
    });
    // One `/v2/*rest` route per table, however many OCI mirrors: routing picks the mirror.
    const tablesWithRoutes = new WeakSet<RouteTable<RouteHandler>>();
    const handler: RouteHandler = (req, res, params, query) =>
      routes.handle(req, res, params.rest ?? "", query);
    return {
      subjects: ociSubjectMatcher,
      mirror(handle): OciMirrorRuntime {
        const { config } = handle;
        const auth = config.upstreamAuth;
        // Every request goes through the mirror's upstream client (timeouts, breaker, counting).
        const registryClient = new RegistryClient({
          baseUrl: config.upstream,
          http: handle.client,
          ...(auth ? { credentials: { username: auth.username, password: auth.password() } } : {}),
        });
        const counters = newOciCounters();
        routes.add({ config, client: registryClient, fetcher: handle.fetcher, counters });
        return {
          ...handle,
          registryClient,
          counters,
          sync: ociSyncStep({
            config,
            client: registryClient,
            fetcher: handle.fetcher,
            state: deps.state,
            blobs: deps.blobs,
            events: deps.events,
          }),
          watchProbe: ociWatchProbe({
            mirror: presyncMirrorOf(config),
            client: registryClient,
            snapshots: deps.state.snapshots,
          }),
          registerRoutes(table) {
            // `/<mirror>/` (mirror-web and the help page link it): the mirror's status page, which
            // lists its repositories; registry clients use /v2/.
            const status = `/status/${encodeURIComponent(config.name)}`;
            const toStatus: RouteHandler = (_req, res) => {
              res.statusCode = 302;
              res.setHeader("Location", status);
              res.setHeader("Content-Length", 0);
              res.end();
              return { route: "redirect", status: 302, bytes: 0, mirror: config.name };
            };
            table.add(["GET", "HEAD"], `/${encodeURIComponent(config.name)}`, toStatus);
            table.add(["GET", "HEAD"], `/${encodeURIComponent(config.name)}/`, toStatus);
            if (tablesWithRoutes.has(table)) return;
            tablesWithRoutes.add(table);
            table.add("*", "/v2", handler);
            table.add("*", "/v2/*rest", handler);
          },
          renderHelp: (ctx) => renderOciSection(config, ctx),
        };
      },
      // The upstream clients the registry clients send through are the composition root's to close.
      close: async () => {},
    };
  },
};

/** The mirror's section of its help page (the generic page puts it in the site's frame). */
function renderOciSection(config: OciMirrorConfig, ctx: { publicUrl: string }): string {
  return renderOciHelp(
    {
      name: config.name,
      registry: config.registry,
      upstream: config.upstream,
      images: Object.entries(config.images).map(([repository, tags]) => ({
        repository,
        tags: tags.map((t) => (t.kind === "exact" ? t.tag : t.source)),
      })),
      platforms: config.platforms ?? [],
    },
    ctx.publicUrl,
  );
}
