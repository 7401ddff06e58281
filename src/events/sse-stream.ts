// Server-Sent Events for `GET /api/v1/events`: each bus event as `id:` / `event:` / `data:` lines,
// a comment line every 15 s so proxies keep the connection open, and resumption: a client that
// reconnects with `Last-Event-ID` first gets the events it missed from the bus's ring.
// https://html.spec.whatwg.org/multipage/server-sent-events.html#server-sent-events
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type EventBus,
  type EventType,
  eventSubject,
  type FreshmirrorEvent,
  resolveEventTypes,
  type TransientEvent,
} from "./event-bus.js";
import type { SubjectMatcher } from "./subject-matcher.js";

export interface SseOptions {
  /** The matcher for events of a mirror: `?project=` compares names as it normalizes them. */
  matcherFor: (mirror: string | undefined) => SubjectMatcher;
  /** Only events this accepts are sent (on top of the request's query filter). */
  filter?: (event: FreshmirrorEvent) => boolean;
  /** Milliseconds between heartbeat comments. Default 15 000. */
  heartbeatMs?: number;
  /** The reconnection delay suggested to clients (`retry:`), in ms. Default 3000. */
  retryMs?: number;
  /** A client this far behind (bytes not yet written to the socket) is disconnected. Default 4 MiB. */
  maxBufferedBytes?: number;
}

export interface SseStream {
  /** Resolves once the stream has ended (client gone, `close()`, or a client too slow). */
  readonly closed: Promise<{ eventsSent: number; bytes: number }>;
  /** Ends the stream from the server side (shutdown). */
  close(): void;
}

/**
 * The filter a request asks for in its query: `type` (comma-separated types, aliases such as
 * `new_version`, or `sync.*`), `mirror`, `project` (compared as the matcher of the event's mirror
 * normalizes names: PEP 503 for PyPI). Unknown types match nothing.
 */
export function eventFilterFromQuery(
  search: URLSearchParams,
  matcherFor: (mirror: string | undefined) => SubjectMatcher,
): (event: FreshmirrorEvent) => boolean {
  const typeParams = search
    .getAll("type")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim());
  const types = new Set<EventType>(
    typeParams.filter((v) => v !== "").flatMap((v) => resolveEventTypes(v) ?? []),
  );
  const anyType = typeParams.every((v) => v === "");
  const mirror = search.get("mirror") ?? undefined;
  const project = search.get("project") || undefined;
  return (event) => {
    if (!anyType && !types.has(event.type)) return false;
    const subject = eventSubject(event);
    if (mirror !== undefined && mirror !== "" && subject.mirror !== mirror) return false;
    if (project !== undefined) {
      if (subject.project === undefined) return false;
      const matcher = matcherFor(subject.mirror);
      if (matcher.normalizeName(subject.project) !== matcher.normalizeName(project)) return false;
    }
    return true;
  };
}

function lastEventId(req: IncomingMessage, search: URLSearchParams): number | undefined {
  // EventSource sends the header on reconnect; the query form is for clients that cannot set headers.
  const raw = req.headers["last-event-id"] ?? search.get("lastEventId") ?? search.get("last_event_id");
  const text = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

/**
 * A transient event (progress): no `id:` line, so a client's Last-Event-ID stays on the last
 * numbered event, and a reconnect replays only those.
 */
export function formatSseTransient(event: TransientEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** One event in the SSE wire format. The JSON has no raw newlines, so it is one `data:` line. */
export function formatSseEvent(event: FreshmirrorEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * Streams `bus` events to one client until it disconnects. Only needs the request and response;
 * answers HEAD with the headers alone. Never throws.
 */
export function streamEvents(
  bus: EventBus,
  req: IncomingMessage,
  res: ServerResponse,
  options: SseOptions,
): SseStream {
  const search = new URL(req.url ?? "/", "http://localhost").searchParams;
  const queryFilter = eventFilterFromQuery(search, options.matcherFor);
  const accept = (event: FreshmirrorEvent) =>
    queryFilter(event) && (options.filter === undefined || options.filter(event));
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;

  let eventsSent = 0;
  let bytes = 0;
  let done = false;
  let resolveClosed: (value: { eventsSent: number; bytes: number }) => void = () => {};
  const closed = new Promise<{ eventsSent: number; bytes: number }>((resolve) => {
    resolveClosed = resolve;
  });

  res.statusCode = 200;
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Connection", "keep-alive");
  // nginx buffers proxied responses unless told otherwise, which would hold events back.
  res.setHeader("X-Accel-Buffering", "no");
  if (req.method === "HEAD") {
    res.end();
    resolveClosed({ eventsSent, bytes });
    return { closed, close() {} };
  }
  res.flushHeaders();
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);

  const write = (text: string): void => {
    if (done) return;
    bytes += Buffer.byteLength(text);
    res.write(text);
    // A client that stopped reading would make us buffer every event forever.
    if (res.writableLength > maxBuffered) finish(true);
  };

  let lastSentId = 0;
  const send = (event: FreshmirrorEvent): void => {
    if (done || event.id <= lastSentId || !accept(event)) return;
    lastSentId = event.id;
    eventsSent++;
    write(formatSseEvent(event));
  };

  // Replay and subscribe in the same tick: the bus emits synchronously, so nothing falls between.
  write(`retry: ${options.retryMs ?? 3000}\n: freshmirror events\n\n`);
  const since = lastEventId(req, search);
  if (since !== undefined) {
    const missed = bus.recent(since);
    const first = missed[0];
    if (since < bus.lastId && (first === undefined || first.id > since + 1)) {
      write(`: events after ${since} up to ${(first?.id ?? bus.lastId + 1) - 1} are no longer held\n\n`);
    }
    for (const event of missed) send(event);
  }
  const unsubscribe = bus.subscribe(send);
  // Progress goes to clients that asked for every type, or for `sync.progress` by name.
  const typeParams = search.getAll("type").flatMap((v) => v.split(",").map((t) => t.trim()));
  const wantsProgress =
    typeParams.every((t) => t === "") ||
    typeParams.some((t) => t === "sync.progress" || t === "sync.*" || t === "*");
  const mirrorParam = search.get("mirror") || undefined;
  const unsubscribeTransient = wantsProgress
    ? bus.subscribeTransient((event) => {
        if (done || (mirrorParam !== undefined && event.mirror !== mirrorParam)) return;
        write(formatSseTransient(event));
      })
    : () => undefined;
  const heartbeat = setInterval(() => write(`: heartbeat ${new Date().toISOString()}\n\n`), heartbeatMs);
  heartbeat.unref();

  function finish(destroy: boolean): void {
    if (done) return;
    done = true;
    clearInterval(heartbeat);
    unsubscribe();
    unsubscribeTransient();
    if (destroy) res.destroy();
    else if (!res.writableEnded) res.end();
    resolveClosed({ eventsSent, bytes });
  }
  // Not `req`'s "close": that fires once the request body is consumed, not when the client leaves.
  res.on("close", () => finish(false));
  res.on("error", () => finish(true));

  return { closed, close: () => finish(false) };
}
