// The HTTP server: routes requests to the mirrors, the status page and the API, turns errors
// into clear answers, and counts what it serves.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AppContext } from "../app-context.js";
import { FreshmirrorError, NotFoundError } from "../errors.js";
import { PypiRoutes, type RouteResult } from "./pypi-routes.js";
import { renderStatusPage } from "./status-page.js";

export interface ServeStats {
  /** Requests by `route status`. */
  requests: Map<string, number>;
  /** Body bytes by route. */
  bytes: Map<string, number>;
}

export interface RunningServer {
  server: Server;
  url: string;
  stats: ServeStats;
  close(): Promise<void>;
}

function sendError(req: IncomingMessage, res: ServerResponse, error: unknown): RouteResult {
  const known = error instanceof FreshmirrorError ? error : undefined;
  const status = known?.status ?? 500;
  const message = known ? known.message : "internal error";
  if (!known) console.error(`freshmirror: ${req.method} ${req.url}:`, error);
  if (res.headersSent) {
    res.destroy();
    return { route: "error", status, bytes: 0 };
  }
  const wantsJson =
    (req.url ?? "").startsWith("/api/") || (req.headers.accept ?? "").includes("application/json");
  const body = wantsJson
    ? JSON.stringify({ error: { code: known?.code ?? "FM_ERR_INTERNAL", message, hint: known?.hint } })
    : `${status} ${message}${known?.hint ? `\nhint: ${known.hint}` : ""}\n`;
  res.statusCode = status;
  res.setHeader("Content-Type", wantsJson ? "application/json" : "text/plain; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "no-store");
  res.end(req.method === "HEAD" ? undefined : body);
  return { route: "error", status, bytes: 0 };
}

export function createRequestHandler(app: AppContext, stats: ServeStats) {
  const pypi = new PypiRoutes(app);
  const count = (result: RouteResult) => {
    const key = `${result.route} ${result.status}`;
    stats.requests.set(key, (stats.requests.get(key) ?? 0) + 1);
    stats.bytes.set(result.route, (stats.bytes.get(result.route) ?? 0) + result.bytes);
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let result: RouteResult;
    try {
      result = await route(req, res);
    } catch (error) {
      result = sendError(req, res, error);
    }
    count(result);
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<RouteResult> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.statusCode = 405;
      res.setHeader("Allow", "GET, HEAD");
      res.end();
      return { route: "method", status: 405, bytes: 0 };
    }
    const raw = req.url ?? "/";
    if (raw.includes("\0") || !raw.startsWith("/")) throw new NotFoundError(raw);
    const queryAt = raw.indexOf("?");
    const path = queryAt === -1 ? raw : raw.slice(0, queryAt);
    const query = queryAt === -1 ? "" : raw.slice(queryAt);
    if (path === "/" || path === "/index.html") {
      const body = renderStatusPage(app);
      res.setHeader("Content-Type", "text/html; charset=utf-8");
      res.setHeader("Cache-Control", "no-cache");
      res.setHeader("Content-Length", Buffer.byteLength(body));
      res.end(req.method === "HEAD" ? undefined : body);
      return { route: "status_page", status: 200, bytes: Buffer.byteLength(body) };
    }
    if (path === "/healthz") {
      res.setHeader("Content-Type", "text/plain");
      res.end("ok\n");
      return { route: "health", status: 200, bytes: 3 };
    }
    const slash = path.indexOf("/", 1);
    const name = decodeURIComponent(slash === -1 ? path.slice(1) : path.slice(1, slash));
    const mirror = app.mirrors().find((m) => m.config.name === name);
    if (!mirror) throw new NotFoundError(`${path}: no mirror named "${name}"`);
    if (slash === -1) {
      res.statusCode = 301;
      res.setHeader("Location", `/${name}/${query}`);
      res.end();
      return { route: "redirect", status: 301, bytes: 0 };
    }
    return pypi.handle(req, res, mirror, path.slice(slash + 1), query);
  }
}

export async function startServer(app: AppContext, host: string, port: number): Promise<RunningServer> {
  const stats: ServeStats = { requests: new Map(), bytes: new Map() };
  const handler = createRequestHandler(app, stats);
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
  return {
    server,
    url: `http://${shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${address.port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
