// The JSON API under /api/v1. Reads are public:
//   GET  /api/v1/mirrors                        every mirror's status
//   GET  /api/v1/mirrors/<m>                    one mirror's status (and its scheduler state)
//   GET  /api/v1/mirrors/<m>/runs?limit&before  run history, newest first, paged by run id
//   GET  /api/v1/mirrors/<m>/runs/<id>          one run
//   GET  /api/v1/mirrors/<m>/runs/<id>/log      its log, as text
//   GET  /api/v1/events                         Server-Sent Events (sync.*, release.new)
// Admin calls need `Authorization: Bearer <FRESHMIRROR_ADMIN_TOKEN>` (RFC 6750):
//   POST /api/v1/mirrors/<m>/sync[?project=P]   queue a sync now (or body {"project": "P"})
//   POST /api/v1/mirrors/<m>/pause | /resume    pause or resume the mirror's schedule
// With no token configured, admin calls answer 403 and say how to enable them.

import { createHash, timingSafeEqual } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { relative, resolve } from "node:path";
import { AuthError, BadRequestError, MethodNotAllowedError, NotFoundError } from "../errors.js";
import { streamEvents } from "../events/sse-stream.js";
import { type MirrorStatusCache, mirrorStatus } from "../sync/mirror-status.js";
import type { GcView } from "../sync/scheduled-gc.js";
import type { Scheduler } from "../sync/scheduler.js";
import { decodeSegment } from "./decode-segment.js";
import type { RouteResult } from "./route-handler.js";
import type { ServedApp } from "./served-app.js";
import { downloadToJson, gcToJson, mirrorToJson, progressToJson, runToJson } from "./status-json.js";

const MAX_BODY_BYTES = 4096;
const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

export const ADMIN_TOKEN_HINT =
  "start the server with FRESHMIRROR_ADMIN_TOKEN set to a long random secret (e.g. `openssl rand -hex 32`), then send `Authorization: Bearer <secret>`";

/** Constant-time comparison: both sides are hashed first, so their lengths never leak either. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
): RouteResult {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.end(req.method === "HEAD" ? undefined : text);
  return { route: "api", status, bytes: Buffer.byteLength(text) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new BadRequestError(`request body over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BadRequestError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function intParam(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = params.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new BadRequestError(`${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export interface ApiOptions {
  scheduler: Scheduler;
  /** FRESHMIRROR_ADMIN_TOKEN; undefined or "" disables admin calls. */
  adminToken: string | undefined;
  /** Shared with the status page, /jobs and /metrics. */
  statuses: MirrorStatusCache;
  /** `serve`'s scheduled gc; absent when gc_schedule is off. */
  gc?: GcView | undefined;
}

export class ApiRoutes {
  readonly #app: ServedApp;
  readonly #options: ApiOptions;

  constructor(app: ServedApp, options: ApiOptions) {
    this.#app = app;
    this.#options = options;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<RouteResult> {
    const method = req.method ?? "GET";
    const params = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
    const parts = path
      .slice("/api/v1/".length)
      .split("/")
      .filter((p) => p !== "")
      .map(decodeSegment);
    const read = method === "GET" || method === "HEAD";
    const only = (allowed: readonly string[]) => {
      if (!allowed.includes(method)) {
        res.setHeader("Allow", allowed.join(", "));
        throw new MethodNotAllowedError(method, path, allowed);
      }
    };
    if (parts[0] === "events" && parts.length === 1) {
      // Server-Sent Events: sync.*, release.new; Last-Event-ID replays what a client missed.
      only(["GET", "HEAD"]);
      streamEvents(this.#app.events, req, res, { matcherFor: this.#app.matcherFor });
      return { route: "api_events", status: 200, bytes: 0 };
    }
    if (parts[0] !== "mirrors") throw new NotFoundError(`${path}: no such API path (see /api/v1/mirrors)`);
    const now = Date.now();
    if (parts.length === 1) {
      only(["GET", "HEAD"]);
      const statuses = await this.#options.statuses.get(now);
      return sendJson(req, res, 200, {
        generated_at: new Date(now).toISOString(),
        mirrors: statuses.map((m) => {
          const progress = this.#app.progress.get(m.name);
          return { ...mirrorToJson(m), progress: progress ? progressToJson(progress) : null };
        }),
        gc: this.#options.gc ? gcToJson(this.#options.gc) : null,
      });
    }
    const name = parts[1] as string;
    const action = parts[2];
    if (!read && parts.length === 3 && (action === "sync" || action === "pause" || action === "resume")) {
      only(["POST"]);
      this.#authorize(req, res);
      const mirror = this.#app.mirror(name);
      return this.#admin(req, res, mirror.config.name, action, params);
    }
    const mirror = this.#app.mirror(name);
    const config = mirror.config;
    if (parts.length === 2) {
      only(["GET", "HEAD"]);
      const row = (await this.#app.state.mirrors.list()).find((r) => r.name === config.name);
      const status = await mirrorStatus(config, row, this.#app.state, now);
      const sched = this.#options.scheduler.status(config.name);
      const progress = this.#app.progress.get(config.name);
      return sendJson(req, res, 200, {
        ...mirrorToJson(status),
        // The running sync, live (null when none runs in this server's process).
        progress: progress ? progressToJson(progress) : null,
        // Downloads in flight: the sync's and those fetched on demand for clients (pull-through).
        downloads: mirror.fetcher.inFlightDownloads().map(downloadToJson),
        scheduler: {
          scheduled: sched.scheduled,
          running: sched.running,
          queue_position: sched.queuePosition,
          retry: sched.retry && { attempt: sched.retry.attempt, at: new Date(sched.retry.at).toISOString() },
        },
      });
    }
    if (action === "sync" || action === "pause" || action === "resume") only(["POST"]);
    if (action !== "runs") throw new NotFoundError(`${path}: no such API path`);
    only(["GET", "HEAD"]);
    if (parts.length === 3) {
      const limit = intParam(params, "limit", DEFAULT_PAGE, MAX_PAGE);
      const before = intParam(params, "before", Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      const runs = await this.#app.state.runs.list(config.name, limit + 1, before);
      const page = runs.slice(0, limit);
      const last = page[page.length - 1];
      return sendJson(req, res, 200, {
        mirror: config.name,
        total: await this.#app.state.runs.count(config.name),
        runs: page.map(runToJson),
        next:
          runs.length > limit && last
            ? `/api/v1/mirrors/${encodeURIComponent(config.name)}/runs?before=${last.id}&limit=${limit}`
            : null,
      });
    }
    const id = parts[3] as string;
    const run = /^\d+$/.test(id) ? await this.#app.state.runs.get(Number(id)) : undefined;
    if (!run || run.mirror !== config.name) throw new NotFoundError(`run ${id} of mirror "${config.name}"`);
    if (parts.length === 4) return sendJson(req, res, 200, runToJson(run));
    if (parts.length !== 5 || parts[4] !== "log") throw new NotFoundError(`${path}: no such API path`);
    return this.#sendLog(req, res, run.logPath, `run ${run.id} of mirror "${config.name}"`);
  }

  #authorize(req: IncomingMessage, res: ServerResponse): void {
    const expected = this.#options.adminToken;
    if (expected === undefined || expected === "") {
      throw new AuthError(
        "admin API calls are disabled: FRESHMIRROR_ADMIN_TOKEN is not set on the server",
        403,
        ADMIN_TOKEN_HINT,
      );
    }
    const header = req.headers.authorization ?? "";
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    res.setHeader("WWW-Authenticate", 'Bearer realm="freshmirror"');
    if (!match) {
      throw new AuthError(
        "admin calls need an `Authorization: Bearer <token>` header",
        401,
        ADMIN_TOKEN_HINT,
      );
    }
    if (!tokenMatches(match[1] as string, expected)) {
      throw new AuthError("the bearer token is not the server's admin token", 401);
    }
  }

  async #admin(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    action: "sync" | "pause" | "resume",
    params: URLSearchParams,
  ): Promise<RouteResult> {
    const scheduler = this.#options.scheduler;
    if (action === "pause") {
      await scheduler.pause(name);
      return sendJson(req, res, 200, { mirror: name, paused: true, state: await this.#state(name) });
    }
    if (action === "resume") {
      await scheduler.resume(name);
      const next = (await this.#app.state.mirrors.get(name)).nextRunAt;
      return sendJson(req, res, 200, {
        mirror: name,
        paused: false,
        state: await this.#state(name),
        next_run_at: next === null ? null : new Date(next).toISOString(),
      });
    }
    let project = params.get("project") ?? undefined;
    const body = (await readBody(req)).trim();
    if (body !== "") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new BadRequestError('the body must be JSON, e.g. {"project": "torch"}, or empty');
      }
      const given = (parsed as { project?: unknown } | null)?.project;
      if (given !== undefined && typeof given !== "string")
        throw new BadRequestError("project must be a string");
      project = given ?? project;
    }
    // A mirror limited to some projects (PyPI's `projects:`) syncs only those.
    const config = this.#app.mirror(name).config as { projects?: readonly string[] };
    if (project !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(project))
        throw new BadRequestError(`not a project name: ${project}`);
      const { normalizeName } = this.#app.matcherFor(name);
      const wanted = normalizeName(project);
      if (config.projects && !config.projects.some((p) => normalizeName(p) === wanted)) {
        throw new BadRequestError(
          `project "${project}" is not among mirror "${name}"'s projects (${config.projects.join(", ")})`,
        );
      }
    }
    const queued = await scheduler.trigger(name, project);
    return sendJson(req, res, 202, {
      mirror: name,
      project: project ?? null,
      started: queued.started,
      queue_position: queued.queuePosition,
      state: await this.#state(name),
      status_url: `/api/v1/mirrors/${encodeURIComponent(name)}`,
    });
  }

  async #state(name: string): Promise<string> {
    const config = this.#app.mirror(name).config;
    const row = (await this.#app.state.mirrors.list()).find((r) => r.name === name);
    return (await mirrorStatus(config, row, this.#app.state, Date.now())).state;
  }

  #sendLog(req: IncomingMessage, res: ServerResponse, logPath: string | null, what: string): RouteResult {
    if (logPath === null) throw new NotFoundError(`no log for ${what}`);
    const path = resolve(logPath);
    const inside = relative(this.#app.logsDir, path);
    if (inside.startsWith("..") || inside === "") throw new NotFoundError(`no log for ${what}`);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new NotFoundError(`the log of ${what} is gone`);
    }
    res.statusCode = 200;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.setHeader("Cache-Control", "no-cache");
    res.setHeader("Content-Length", size);
    if (req.method === "HEAD" || size === 0) {
      res.end();
      return { route: "api_log", status: 200, bytes: 0 };
    }
    createReadStream(path, { start: 0, end: Math.max(0, size - 1) })
      .on("error", () => res.destroy())
      .pipe(res);
    return { route: "api_log", status: 200, bytes: size };
  }
}
