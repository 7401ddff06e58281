// The `type: oci` MirrorKind: container registries (Docker Hub, ghcr.io, nvcr.io, ...) mirrored by
// pull-through, all on one `/v2/` endpoint. Registered at the composition root
// (src/app/mirror-kinds.ts).
import type { MirrorKind, MirrorRuntime } from "../ecosystem/mirror-kind.js";
import { literalMatcher } from "../events/subject-matcher.js";
import { FileResponseLimiter } from "../http/file-response-limiter.js";
import { escapeHtml } from "../http/html-escape.js";
import { renderPage } from "../http/page-layout.js";
import type { RouteHandler } from "../http/route-handler.js";
import type { RouteTable } from "../http/route-table.js";
import {
  type OciMirrorConfig,
  ociMirrorProblems,
  ociMirrorSchema,
  ociRegistryClashes,
  resolveOciMirror,
} from "./config-schema.js";
import { ManifestPullThrough } from "./manifest-pull-through.js";
import { newOciCounters, type OciCounters, OciRoutes } from "./oci-routes.js";
import { ociSyncStep } from "./oci-sync-step.js";
import { RegistryClient } from "./registry-client.js";

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
  // Repository names compare exactly (they are lower case by the spec); `versions:` is one tag.
  subjects: literalMatcher,
  open(deps) {
    const manifestCache = new ManifestPullThrough({
      blobs: deps.blobs,
      manifests: deps.state.manifests,
      blobRecords: deps.state.blobs,
      onUpstreamFailure: deps.onUpstreamFailure,
    });
    const routes = new OciRoutes({
      blobs: deps.blobs,
      blobRecords: deps.state.blobs,
      proxyCache: deps.state.proxyCache,
      maxCacheSize: deps.config.maxCacheSize,
      manifests: deps.state.manifests,
      limiter: new FileResponseLimiter(deps.config.maxFileResponses),
      sendTimeoutMs: deps.config.sendTimeoutMs,
      logger: deps.logger,
      manifestCache,
    });
    const clients: RegistryClient[] = [];
    // One `/v2/*rest` route per table, however many OCI mirrors: routing picks the mirror.
    const tablesWithRoutes = new WeakSet<RouteTable<RouteHandler>>();
    const handler: RouteHandler = (req, res, params, query) =>
      routes.handle(req, res, params.rest ?? "", query);
    return {
      subjects: literalMatcher,
      mirror(handle): OciMirrorRuntime {
        const { config } = handle;
        const auth = config.upstreamAuth;
        const registryClient = new RegistryClient({
          baseUrl: config.upstream,
          timeoutMs: config.upstreamTimeoutMs,
          userAgent: "freshmirror",
          ...(auth ? { credentials: { username: auth.username, password: auth.password() } } : {}),
        });
        clients.push(registryClient);
        const counters = newOciCounters();
        routes.add({ config, client: registryClient, fetcher: handle.fetcher, counters });
        return {
          ...handle,
          registryClient,
          counters,
          sync: ociSyncStep(config),
          watchProbe: undefined,
          registerRoutes(table) {
            if (tablesWithRoutes.has(table)) return;
            tablesWithRoutes.add(table);
            table.add("*", "/v2", handler);
            table.add("*", "/v2/*rest", handler);
          },
          renderHelp: (ctx) => renderOciHelp(config, ctx),
        };
      },
      close: async () => {
        await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      },
    };
  },
};

/** A short set-up section; the full one (Docker, containerd, podman, Kubernetes) is the help page's. */
function renderOciHelp(config: OciMirrorConfig, ctx: { publicUrl: string; siteName: string }): string {
  const host = new URL(ctx.publicUrl).host;
  const body = `<h1>${escapeHtml(config.name)}: ${escapeHtml(config.registry)} mirror</h1>
<p>skopeo / podman: <code>${escapeHtml(`${host}/${config.name}/<image>:<tag>`)}</code></p>
<p>containerd <code>hosts.toml</code>: <code>${escapeHtml(`[host."${ctx.publicUrl}"]`)}</code> under <code>${escapeHtml(`/etc/containerd/certs.d/${config.registry}/`)}</code></p>`;
  return renderPage({ title: `${config.name} help · ${ctx.siteName}`, siteName: ctx.siteName, body });
}
