// Registers a PyPI mirror's pages for people (browse-pages.ts): `/<mirror>/` and
// `/<mirror>/+project/<name>`, read from the current snapshots. The landing page's summary is
// computed once per state change (the store's change stamp), not per request.
import type { IncomingMessage, ServerResponse } from "node:http";
import { NotFoundError, NotProjectNameError } from "../errors.js";
import { decodeSegment } from "../http/decode-segment.js";
import type { RouteHandler, RouteResult } from "../http/route-handler.js";
import type { RouteTable } from "../http/route-table.js";
import type { StateRepositories } from "../store/state-repositories.js";
import {
  type MirrorSummary,
  type ProjectIndexFiles,
  renderLandingPage,
  renderProjectPage,
  summarizeMirror,
} from "./browse-pages.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { isValidProjectName, normalizeProjectName } from "./project-page.js";

export interface BrowseDeps {
  readonly state: Pick<StateRepositories, "mirrors" | "snapshots">;
  readonly siteName: string;
  readonly publicUrl: () => string;
}

function sendHtml(req: IncomingMessage, res: ServerResponse, route: string, body: string): RouteResult {
  const bytes = Buffer.byteLength(body);
  res.statusCode = 200;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache");
  res.setHeader("Content-Length", bytes);
  res.end(req.method === "HEAD" ? undefined : body);
  return { route, status: 200, bytes };
}

export function registerBrowseRoutes(
  table: RouteTable<RouteHandler>,
  config: PypiMirrorConfig,
  deps: BrowseDeps,
): void {
  const base = `/${encodeURIComponent(config.name)}`;
  // The summary of one stamp, computed once: requests that arrive while it is being read share it
  // (the promise is kept right after the stamp is read, before any other await).
  let cached: { stamp: string; summary: Promise<MirrorSummary> } | undefined;
  const readSummary = async (): Promise<MirrorSummary> => {
    const snapshots = [];
    for (const snap of await deps.state.snapshots.currentSnapshots(config.name)) {
      snapshots.push({
        idx: snap.idx,
        publishedAt: snap.publishedAt,
        projects: await deps.state.snapshots.projects(snap.snapshotId),
        files: await deps.state.snapshots.filesOfSnapshot(snap.snapshotId),
      });
    }
    return summarizeMirror(snapshots);
  };
  const summary = async (): Promise<MirrorSummary> => {
    const stamp = await deps.state.snapshots.changeStamp();
    if (cached?.stamp !== stamp) {
      const entry = { stamp, summary: readSummary() };
      cached = entry;
      // A failed reading is not kept: the next request reads again.
      entry.summary.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.summary;
  };
  table.add(["GET", "HEAD"], `${base}/`, async (req, res, _params, query) => {
    const row = await deps.state.mirrors.get(config.name);
    const filter = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query).get("q") ?? "";
    const body = renderLandingPage(
      config,
      await summary(),
      { state: row.state, lastSuccessAt: row.lastSuccessAt, lastError: row.lastError },
      { siteName: deps.siteName, publicUrl: deps.publicUrl(), now: Date.now(), filter },
    );
    return sendHtml(req, res, "browse_mirror", body);
  });
  table.add(["GET", "HEAD"], `${base}/+project/:name`, async (req, res, params) => {
    const raw = decodeSegment(params.name ?? "");
    if (!isValidProjectName(raw)) throw new NotProjectNameError(`${base}/+project/${params.name}`, raw);
    const project = normalizeProjectName(raw);
    const found: ProjectIndexFiles[] = [];
    for (const snap of await deps.state.snapshots.currentSnapshots(config.name)) {
      const record = await deps.state.snapshots.project(snap.snapshotId, project);
      if (record)
        found.push({
          idx: snap.idx,
          record,
          files: await deps.state.snapshots.filesOfProject(snap.snapshotId, project),
        });
    }
    if (found.length === 0) {
      throw new NotFoundError(
        config.mode === "proxy"
          ? `project ${project}: mirror ${config.name} fetches projects on demand; its index pages have it (e.g. ${base}/<index>/${project}/)`
          : `project ${project} is not published in mirror ${config.name}`,
      );
    }
    const body = renderProjectPage(config, project, found, {
      siteName: deps.siteName,
      publicUrl: deps.publicUrl(),
      now: Date.now(),
    });
    return sendHtml(req, res, "browse_project", body);
  });
}
