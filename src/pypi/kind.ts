// The `type: pypi` MirrorKind: PEP 503/691 simple indexes mirrored on a schedule or proxied on
// demand. Registered at the composition root (src/app/mirror-kinds.ts).
import type { MirrorKind, MirrorRuntime } from "../ecosystem/mirror-kind.js";
import type { RouteHandler } from "../http/route-handler.js";
import type { RouteTable } from "../http/route-table.js";
import { registerBrowseRoutes } from "./browse-routes.js";
import {
  type PypiMirrorConfig,
  pypiMirrorProblems,
  pypiMirrorSchema,
  resolvePypiMirror,
} from "./config-schema.js";
import { renderPypiHelp } from "./help-section.js";
import { PullThrough } from "./pull-through.js";
import { PypiRoutes } from "./pypi-routes.js";
import { pypiSyncStep } from "./pypi-sync-step.js";
import { pypiSubjectMatcher } from "./subject-matcher.js";
import { pypiWatchProbe } from "./watch-probe.js";
import { verifyWheelDownload } from "./wheel-metadata.js";

type ParsedPypiMirror = Parameters<typeof resolvePypiMirror>[1];

/** What the server's pypi routes need beyond the mirror: the file-response limiter lives here. */
export interface OpenPypiKind {
  readonly pullThrough: PullThrough;
  readonly routes: PypiRoutes;
}

export const pypiKind: MirrorKind<PypiMirrorConfig> & { validateBlob: typeof verifyWheelDownload } = {
  type: "pypi",
  schema: pypiMirrorSchema,
  check: (name, parsed) => pypiMirrorProblems(name, parsed as ParsedPypiMirror),
  resolve: (name, parsed, env, problems) =>
    resolvePypiMirror(name, parsed as ParsedPypiMirror, env, problems),
  subjects: pypiSubjectMatcher,
  validateBlob: verifyWheelDownload,
  open(deps) {
    const pullThrough = new PullThrough(
      {
        state: deps.state,
        blobs: deps.blobs,
        maxCacheSize: deps.config.maxCacheSize,
        logger: deps.logger,
      },
      deps.state.proxyCache,
      { onUpstreamFailure: deps.onUpstreamFailure },
    );
    const routes = new PypiRoutes({
      state: deps.state,
      blobs: deps.blobs,
      pullThrough,
      config: deps.config,
      fileResponses: deps.fileResponses,
      logger: deps.logger,
    });
    return {
      subjects: pypiSubjectMatcher,
      pullThrough,
      routes,
      mirror(handle): MirrorRuntime<PypiMirrorConfig> {
        const { config } = handle;
        return {
          ...handle,
          sync: pypiSyncStep({ ...handle, state: deps.state, blobs: deps.blobs }),
          watchProbe: pypiWatchProbe({ ...handle, state: deps.state }),
          registerRoutes(table: RouteTable<RouteHandler>) {
            // `/<mirror>/` and `/<mirror>/+project/<name>`: pages for people (more specific than
            // the catch-all below, so they win).
            registerBrowseRoutes(table, config, {
              state: deps.state,
              siteName: deps.config.site.name,
              publicUrl: deps.publicUrl,
            });
            // `/<mirror>/...`: the upstream's own path layout under the mirror's name.
            table.add(
              ["GET", "HEAD"],
              `/${encodeURIComponent(config.name)}/*rest`,
              async (req, res, params, query) => {
                const result = await routes.handle(req, res, handle, params.rest ?? "", query);
                return { ...result, mirror: config.name };
              },
            );
          },
          renderHelp: (ctx) => renderPypiHelp(config, ctx.publicUrl),
        };
      },
      close: () => pullThrough.close(),
    };
  },
};
