// An HTTP pass-through for tests and benchmarks: listens on a loopback port, forwards every
// request unchanged (method, path, query, headers, streamed body) to one target, streams the
// answer back, and records what went through: what a client sent to a mirror (containerd's
// `?ns=`), or how many times a mirror fetched a layer from its upstream. Nothing is buffered.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  status: number;
  /** The target's answer headers (lower-case names). */
  responseHeaders: Record<string, string | string[] | undefined>;
  /** Body bytes passed back to the client (fewer than the full answer if it went away). */
  bytes: number;
  startedAt: number;
  /** performance.now() when the first body byte came back from the target, if one did. */
  firstByteAt?: number;
  finishedAt?: number;
}

export interface RecordingProxy {
  url: string;
  host: string;
  requests: RecordedRequest[];
  /** Requests whose path matches, e.g. GETs of one blob. */
  count(method: string, pathPattern: RegExp): number;
  /** Resolves once no request has started or moved a byte for `quietMs` (at most `timeoutMs`). */
  settle(quietMs?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const base = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      url: req.url ?? "/",
      status: 0,
      responseHeaders: {},
      bytes: 0,
      startedAt: performance.now(),
    };
    requests.push(record);
    const headers = { ...req.headers, host: base.host };
    const upstream = httpRequest(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.url,
        headers,
      },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        const out = { ...answer.headers };
        record.responseHeaders = out;
        // Redirects to the target stay valid for the client only when they are relative or
        // point at the target; the registries used here answer relative or same-host URLs.
        res.writeHead(record.status, out);
        answer.on("data", (chunk: Buffer) => {
          record.firstByteAt ??= performance.now();
          record.bytes += chunk.length;
        });
        answer.pipe(res);
        answer.on("end", () => {
          record.finishedAt = performance.now();
        });
        res.on("close", () => {
          if (!answer.complete) answer.destroy();
        });
      },
    );
    upstream.on("error", (error) => {
      record.status = record.status || 502;
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`recording proxy: ${error.message}`);
      } else res.destroy(error);
    });
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    count: (method, pattern) =>
      requests.filter((r) => r.method === method && pattern.test(r.url.split("?")[0] ?? "")).length,
    settle: async (quietMs = 1500, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      const activity = () => `${requests.length}:${requests.reduce((n, r) => n + r.bytes, 0)}`;
      let last = activity();
      let quietSince = Date.now();
      while (Date.now() < deadline && Date.now() - quietSince < quietMs) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const now = activity();
        if (now !== last) {
          last = now;
          quietSince = Date.now();
        }
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
