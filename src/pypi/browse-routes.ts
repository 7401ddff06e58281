// Registers a PyPI mirror's pages for people (browse-pages.ts): `/<mirror>/` and
// `/<mirror>/+project/<name>`, read from the current snapshots. The landing page's summary is
// computed once per state change (the store's change stamp), not per request.
import type { IncomingMessage, ServerResponse } from "node:http";
import { NotFoundError, NotProjectNameError } from "../errors.js";
import { decodeSegment } from "../http/decode-segment.js";
import type { RouteHandler, RouteResult } from "../http/route-handler.js";
import type { RouteTable } from "../http/route-table.js";
import type { StateStore } from "../store/state-store.js";
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
  readonly state: StateStore;
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
  let cached: { stamp: string; summary: MirrorSummary } | undefined;
  const summary = (): MirrorSummary => {
    const stamp = deps.state.changeStamp();
    if (cached?.stamp === stamp) return cached.summary;
    const snapshots = deps.state.currentSnapshots(config.name).map((snap) => ({
      idx: snap.idx,
      publishedAt: snap.publishedAt,
      projects: deps.state.projects(snap.snapshotId),
      files: deps.state.filesOfSnapshot(snap.snapshotId),
    }));
    cached = { stamp, summary: summarizeMirror(snapshots) };
    return cached.summary;
  };
  table.add(["GET", "HEAD"], `${base}/`, (req, res, _params, query) => {
    const row = deps.state.getMirror(config.name);
    const filter = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query).get("q") ?? "";
    const body = renderLandingPage(
      config,
      summary(),
      { state: row.state, lastSuccessAt: row.lastSuccessAt, lastError: row.lastError },
      { siteName: deps.siteName, publicUrl: deps.publicUrl(), now: Date.now(), filter },
    );
    return sendHtml(req, res, "browse_mirror", body);
  });
  table.add(["GET", "HEAD"], `${base}/+project/:name`, (req, res, params) => {
    const raw = decodeSegment(params.name ?? "");
    if (!isValidProjectName(raw)) throw new NotProjectNameError(`${base}/+project/${params.name}`, raw);
    const project = normalizeProjectName(raw);
    const found: ProjectIndexFiles[] = [];
    for (const snap of deps.state.currentSnapshots(config.name)) {
      const record = deps.state.project(snap.snapshotId, project);
      if (record)
        found.push({ idx: snap.idx, record, files: deps.state.filesOfProject(snap.snapshotId, project) });
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
