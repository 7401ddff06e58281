// The access log (`access_log: true`): one JSON line per HTTP request once its response is over,
// through the process's logger. JSON lines, not the combined log format: Loki/promtail, Vector,
// Fluent Bit and Elastic read them field by field without a grok pattern, and fields the combined
// format has no place for (duration, X-Cache, whether the client stayed to the end) need none.
//
// {"level":"info","time":"…","msg":"access","method":"GET","path":"/pytorch/simple/torch/",
//  "status":200,"bytes":5123,"durationMs":3.2,"remote":"10.0.0.7","ua":"pip/24.2 …","cache":"HIT",
//  "completed":true}
import type { IncomingMessage, ServerResponse } from "node:http";
import { redactText } from "../upstream/redact-url.js";
import type { Logger } from "./logger.js";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface AccessLogEntry {
  method: string;
  /** The request target as sent (path and query), with credentials masked. */
  path: string;
  status: number;
  /** Body bytes handed to the connection (headers not counted). */
  bytes: number;
  durationMs: number;
  remote: string | undefined;
  ua: string | undefined;
  /** X-Cache of the answer (HIT, MISS, COALESCED), when it has one. */
  cache: string | undefined;
  /** False when the connection closed before the whole response was sent. */
  completed: boolean;
}

/** `handler`, logging one line per request to `logger` when the response finishes or the client goes. */
export function withAccessLog(handler: RequestHandler, logger: Logger): RequestHandler {
  return (req, res) => {
    const started = performance.now();
    let bytes = 0;
    // Counting what the handlers write (files are streamed in chunks; pages are one end()).
    const write = res.write;
    const end = res.end;
    const count = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === "string")
        bytes += Buffer.byteLength(
          chunk,
          typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8",
        );
      else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
    };
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      count(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as ServerResponse["write"];
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      if (typeof chunk !== "function") count(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as ServerResponse["end"];
    res.once("close", () => {
      const cache = res.getHeader("x-cache");
      const entry: AccessLogEntry = {
        method: req.method ?? "?",
        path: redactText(req.url ?? ""),
        status: res.statusCode,
        bytes,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        remote: req.socket.remoteAddress,
        ua: req.headers["user-agent"],
        cache: typeof cache === "string" ? cache : undefined,
        completed: res.writableFinished,
      };
      logger.info(entry, "access");
    });
    return handler(req, res);
  };
}
