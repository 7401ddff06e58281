// The HTTP server: routes requests to the mirrors, the status page and the API, turns errors
// into clear answers, and counts what it serves.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { MirrorConfig } from "../config/schema.js";
import {
  errorCodeOf,
  FreshmirrorError,
  isDiskFull,
  NotFoundError,
  StoreWriteError,
  TooManyFileResponsesError,
} from "../errors.js";
import { withAccessLog } from "../logging/access-log.js";
import type { Logger } from "../logging/logger.js";
import { lagHistory, MirrorStatusCache, mirrorStatus, watchedLagHistory } from "../sync/mirror-status.js";
import type { GcView } from "../sync/scheduled-gc.js";
import { createScheduler } from "../sync/scheduled-sync.js";
import type { Scheduler } from "../sync/scheduler.js";
import { redactText } from "../upstream/redact-url.js";
import { ApiRoutes, sendJson } from "./api-routes.js";
import { decodeSegment } from "./decode-segment.js";
import { type HelpContext, renderHelpIndex, renderHelpPage } from "./help-page.js";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.js";
import { mirrorzDocument } from "./mirrorz.js";
import { RECIPE_URL, serveRecipe } from "./recipe-files.js";
import type { RouteHandler, RouteResult } from "./route-handler.js";
import { RouteTable } from "./route-table.js";
import type { ServedApp } from "./served-app.js";
import { renderMirrorPage, renderStatusPage } from "./status-page.js";
import { tunasyncJobs } from "./tunasync-jobs.js";

export interface ServeStats {
  /** Requests by `route status`. */
  requests: Map<string, number>;
  /** Body bytes by route. */
  bytes: Map<string, number>;
  /**
   * Pull-through cache results by `mirror RESULT` (RESULT as in the `X-Cache` response header:
   * HIT, MISS or COALESCED). Counted here from RouteResult.cache or the X-Cache header.
   */
  cacheResults: Map<string, number>;
}

export function createServeStats(): ServeStats {
  return { requests: new Map(), bytes: new Map(), cacheResults: new Map() };
}

export interface ServerOptions {
  /** The scheduler of `serve`; without one, admin syncs run through an unstarted scheduler. */
  scheduler?: Scheduler;
  /** FRESHMIRROR_ADMIN_TOKEN; unset disables admin API calls (403). */
  adminToken?: string | undefined;
  /** For process_start_time_seconds; default now. */
  startedAt?: number;
  /** The scheduled gc of `serve` (gc_schedule), for metrics; absent when it is off. */
  gc?: GcView | undefined;
  /**
   * Called with the server's URL once the socket is bound, before any request is handled (so a
   * public URL derived from it is fixed before use).
   */
  onListening?: (url: string) => void;
}

const HOST_HEADER = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** The base URL pages show: `public_url` when configured, else what the reader asked for. */
export function publicBaseUrl(app: ServedApp, req: IncomingMessage): string {
  if (app.config.publicUrlConfigured) return app.config.publicUrl;
  const host = req.headers.host;
  if (host === undefined || !HOST_HEADER.test(host)) return app.config.publicUrl;
  const forwarded = req.headers["x-forwarded-proto"];
  const proto = forwarded === "https" || forwarded === "http" ? forwarded : "http";
  return `${proto}://${host}`;
}

function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  contentType: string,
  body: string,
  status = 200,
): RouteResult {
  const bytes = Buffer.byteLength(body);
  res.statusCode = status;
  res.setHeader("Content-Type", contentType);
  res.setHeader("Cache-Control", "no-cache");
  res.setHeader("Content-Length", bytes);
  res.end(req.method === "HEAD" ? undefined : body);
  return { route, status, bytes };
}

function redirect(res: ServerResponse, location: string): RouteResult {
  res.statusCode = 301;
  res.setHeader("Location", location);
  res.end();
  return { route: "redirect", status: 301, bytes: 0 };
}

/**
 * The message and its values for an unexpected error: a fixed format with the request as values,
 * never the URL as the format string (a `%s` or `%o` in a URL would swallow the error itself).
 * The logger gets the error itself as its `err` field (stack included, redacted).
 */
export function internalErrorLog(
  method: string | undefined,
  url: string | undefined,
  error: unknown,
): unknown[] {
  return ["freshmirror: %s %s:", method ?? "?", url ?? "?", error];
}

export interface RunningServer {
  server: Server;
  url: string;
  stats: ServeStats;
  close(): Promise<void>;
}

function sendError(req: IncomingMessage, res: ServerResponse, error: unknown, logger: Logger): RouteResult {
  // A full disk met anywhere (SQLITE_FULL from a cache row, ENOSPC) is the store's coded 507.
  const known =
    error instanceof FreshmirrorError
      ? error
      : isDiskFull(error)
        ? new StoreWriteError("data_dir", error)
        : undefined;
  const status = known?.status ?? 500;
  const message = known ? known.message : "internal error";
  if (!known) {
    const [format, method, url] = internalErrorLog(req.method, req.url, error) as [string, string, string];
    logger.error({ err: error, method, url }, format, method, redactText(url));
  }
  if (res.headersSent) {
    res.destroy();
    return { route: "error", status, bytes: 0 };
  }
  const wantsJson =
    (req.url ?? "").startsWith("/api/") || (req.headers.accept ?? "").includes("application/json");
  const body = wantsJson
    ? JSON.stringify({ error: { code: errorCodeOf(known), message, hint: known?.hint } })
    : `${status} ${message}${known?.hint ? `\nhint: ${known.hint}` : ""}\n`;
  res.statusCode = status;
  res.setHeader("Content-Type", wantsJson ? "application/json" : "text/plain; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "no-store");
  // RFC 9110 §10.2.3: when to come back; pip honours it on 503.
  if (known instanceof TooManyFileResponsesError) res.setHeader("Retry-After", known.retryAfterSeconds);
  res.end(req.method === "HEAD" ? undefined : body);
  return { route: "error", status, bytes: 0 };
}

const GET = ["GET", "HEAD"] as const;

export function createRequestHandler(app: ServedApp, stats: ServeStats, options: ServerOptions = {}) {
  const scheduler = options.scheduler ?? createScheduler(app);
  const statuses = new MirrorStatusCache(app.config, app.state);
  const api = new ApiRoutes(app, { scheduler, adminToken: options.adminToken, statuses, gc: options.gc });
  const startedAt = options.startedAt ?? Date.now();
  const table = routeTable();
  const count = (result: RouteResult) => {
    const key = `${result.route} ${result.status}`;
    stats.requests.set(key, (stats.requests.get(key) ?? 0) + 1);
    stats.bytes.set(result.route, (stats.bytes.get(result.route) ?? 0) + result.bytes);
  };
  const countCache = (mirror: string, result: RouteResult, res: ServerResponse) => {
    const header = res.getHeader("x-cache");
    const cache = result.cache ?? (typeof header === "string" ? header.toUpperCase() : undefined);
    if (cache === undefined || cache === "") return;
    const key = `${mirror} ${cache}`;
    stats.cacheResults.set(key, (stats.cacheResults.get(key) ?? 0) + 1);
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let result: RouteResult;
    try {
      result = await route(req, res);
    } catch (error) {
      result = sendError(req, res, error, app.logger);
      const url = req.url ?? "";
      // Errors of the API and pages count under their own route; the rest under "error".
      if (url.startsWith("/api/")) result.route = "api";
      else if (url.startsWith("/help/")) result.route = "help";
      else if (url.startsWith("/status/")) result.route = "mirror_page";
    }
    count(result);
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<RouteResult> {
    const raw = req.url ?? "/";
    if (raw.includes("\0") || !raw.startsWith("/")) throw new NotFoundError(raw);
    const queryAt = raw.indexOf("?");
    const path = queryAt === -1 ? raw : raw.slice(0, queryAt);
    const query = queryAt === -1 ? "" : raw.slice(queryAt);
    const found = table.find(req.method ?? "GET", path);
    if (found === undefined) throw new NotFoundError(`${path}: no mirror named ""`);
    if ("allowed" in found) {
      res.statusCode = 405;
      res.setHeader("Allow", found.allowed.join(", "));
      res.end();
      return { route: "method", status: 405, bytes: 0 };
    }
    const result = await found.handler(req, res, found.params, query);
    if (result.mirror !== undefined) countCache(result.mirror, result, res);
    return result;
  }

  /** The generic routes, then each mirror's (registered by its kind's runtime). */
  function routeTable(): RouteTable<RouteHandler> {
    const table = new RouteTable<RouteHandler>();
    const html = "text/html; charset=utf-8";
    const siteName = app.config.site.name;
    table.add("*", "/api/*rest", (req, res, _params, query) => {
      const path = (req.url ?? "/").split("?")[0] as string;
      if (!path.startsWith("/api/v1/")) throw new NotFoundError(`${path}: the API lives under /api/v1/`);
      return api.handle(req, res, path, query);
    });
    const statusPage: RouteHandler = async (req, res) => {
      const now = Date.now();
      return sendBody(
        req,
        res,
        "status_page",
        html,
        renderStatusPage(await statuses.get(now), {
          siteName,
          now,
          progress: (m) => app.progress.get(m),
          gc: options.gc,
        }),
      );
    };
    table.add(GET, "/", statusPage);
    table.add(GET, "/index.html", statusPage);
    table.add(GET, "/healthz", (_req, res) => {
      res.setHeader("Content-Type", "text/plain");
      res.end("ok\n");
      return { route: "health", status: 200, bytes: 3 };
    });
    // tunasync's manager API, and the file mirror-web (TUNA's site) reads it from.
    const jobs: RouteHandler = async (req, res) => {
      const now = Date.now();
      return { ...sendJson(req, res, 200, tunasyncJobs(await statuses.get(now), now)), route: "jobs" };
    };
    table.add(GET, "/jobs", jobs);
    table.add(GET, "/static/tunasync.json", jobs);
    // The team GPU workstation recipe, linked from the help pages.
    table.add(GET, "/static/workstation", (_req, res) => redirect(res, RECIPE_URL));
    table.add(GET, "/static/workstation/:file", (req, res, params) =>
      serveRecipe(req, res, decodeSegment(params.file ?? "")),
    );
    table.add(GET, "/static/workstation/", (req, res) => serveRecipe(req, res, ""));
    table.add(GET, "/mirrorz.json", async (req, res) => {
      const doc = mirrorzDocument(app.config, publicBaseUrl(app, req), await statuses.get(Date.now()));
      // mirrorz.org reads this from the browser: it must be readable cross-origin.
      res.setHeader("Access-Control-Allow-Origin", "*");
      return { ...sendJson(req, res, 200, doc), route: "mirrorz" };
    });
    table.add(GET, "/metrics", async (req, res) => {
      const body = renderMetrics({
        statuses: await statuses.get(Date.now()),
        runOutcomes: await app.state.runs.outcomeCounts(),
        requests: stats.requests,
        bytes: stats.bytes,
        cacheResults: stats.cacheResults,
        upstreamFailures: app.upstreamFailures.byMirror,
        upstreamBytes: new Map(app.mirrors().map((m) => [m.config.name, m.fetcher.bytesDownloaded])),
        syncsRunning: scheduler.runningCount,
        syncsQueued: scheduler.queuedCount,
        fileResponses: {
          active: app.fileResponses.active,
          limit: app.fileResponses.limit,
          refused: app.fileResponses.refused,
        },
        gc: options.gc?.figures,
        startedAt,
      });
      return sendBody(req, res, "metrics", METRICS_CONTENT_TYPE, body);
    });
    table.add(GET, "/help", (_req, res) => redirect(res, "/help/"));
    table.add(GET, "/help/*rest", (req, res, params) => {
      const ociMirrors = app.config.mirrors.filter((m) => m.type === "oci" && !m.disabled).map((m) => m.name);
      const ctx: HelpContext = { publicUrl: publicBaseUrl(app, req), siteName, ociMirrors };
      const name = decodeSegment((params.rest ?? "").replace(/\/$/, ""));
      if (name === "")
        return sendBody(
          req,
          res,
          "help",
          html,
          renderHelpIndex(app.config.mirrors as Parameters<typeof renderHelpIndex>[0], ctx),
        );
      const mirror = app.mirror(name);
      return sendBody(req, res, "help", html, renderHelpPage(mirror.config, mirror.renderHelp(ctx), ctx));
    });
    table.add(GET, "/status/*rest", (req, res, params, query) => {
      const name = decodeSegment((params.rest ?? "").replace(/\/$/, ""));
      return mirrorPage(req, res, app.mirror(name).config, query);
    });
    for (const mirror of app.mirrors()) mirror.registerRoutes(table);
    // `/<name>`: to the mirror's root; `/<name>/...` with an encoded name: the mirror's own route.
    table.add(GET, "/:mirror", (_req, res, params, query) => {
      const name = decodeSegment(params.mirror ?? "");
      if (!app.mirrors().some((m) => m.config.name === name))
        throw new NotFoundError(`/${params.mirror}: no mirror named "${name}"`);
      return redirect(res, `/${name}/${query}`);
    });
    table.add(GET, "/:mirror/*rest", (req, res, params, query) => {
      const name = decodeSegment(params.mirror ?? "");
      const own = app.mirrors().some((m) => m.config.name === name)
        ? table.find(req.method ?? "GET", `/${encodeURIComponent(name)}/${params.rest ?? ""}`)
        : undefined;
      if (own === undefined || "allowed" in own || own.pattern === "/:mirror/*rest")
        throw new NotFoundError(`/${params.mirror}/${params.rest}: no mirror named "${name}"`);
      return own.handler(req, res, own.params, query);
    });
    return table;
  }

  async function mirrorPage(
    req: IncomingMessage,
    res: ServerResponse,
    config: MirrorConfig,
    query: string,
  ): Promise<RouteResult> {
    const now = Date.now();
    const params = new URLSearchParams(query.slice(1));
    const beforeRaw = params.get("before");
    const before =
      beforeRaw !== null && /^\d+$/.test(beforeRaw) ? Number(beforeRaw) : Number.MAX_SAFE_INTEGER;
    const page = await app.state.runs.list(config.name, 51, before);
    const runs = page.slice(0, 50);
    const row = (await app.state.mirrors.list()).find((r) => r.name === config.name);
    const status = await mirrorStatus(config, row, app.state, now);
    const lag =
      status.lagBasis === "watch"
        ? await watchedLagHistory(app.state, config.name, now)
        : lagHistory((await app.state.runs.list(config.name, 500)).reverse(), now);
    const body = renderMirrorPage(status, {
      siteName: app.config.site.name,
      now,
      runs,
      olderBefore: page.length > 50 ? runs[runs.length - 1]?.id : undefined,
      chartRuns:
        before === Number.MAX_SAFE_INTEGER ? runs.slice(0, 30) : await app.state.runs.list(config.name, 30),
      lag,
      progress: app.progress.get(config.name),
    });
    return sendBody(req, res, "mirror_page", "text/html; charset=utf-8", body);
  }
}

export async function startServer(
  app: ServedApp,
  host: string,
  port: number,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const stats = createServeStats();
  const routes = createRequestHandler(app, stats, options);
  const handler = app.config.accessLog ? withAccessLog(routes, app.logger) : routes;
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.address.includes(":") ? `[${address.address}]` : address.address;
  const url = `http://${shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${address.port}`;
  // Before the event loop turns again (this runs in the listen callback's microtasks): no
  // request has been handled yet.
  options.onListening?.(url);
  return {
    server,
    url,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
