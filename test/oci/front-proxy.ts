// A small reverse proxy in front of a test registry: it counts every request (an honest count of
// upstream GETs, whatever the registry logs) and can play an upstream that is down, rate limits,
// or lies (other bytes than the digest it names). Bodies are streamed, never buffered.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { request } from "undici";

export type FrontMode =
  | { kind: "pass" }
  /** Every request answered 503 (a registry in maintenance) or, with `reset`, the socket cut. */
  | { kind: "down"; reset?: boolean }
  | { kind: "ratelimit"; retryAfter?: string }
  /** Manifest GETs answered with these bytes (headers as upstream sent them, length fixed up). */
  | { kind: "lie-manifest"; bytes: Buffer }
  /** Blob GETs answered with upstream's bytes, one byte flipped (same length). */
  | { kind: "lie-blob" }
  /** Authorized blob GETs redirected (307) to `to` + the same path, as registries send clients to a CDN. */
  | { kind: "redirect-blobs"; to: string };

export interface FrontProxy {
  url: string;
  host: string;
  mode: FrontMode;
  /** `METHOD path` of every request, in order (query strings dropped). */
  readonly log: string[];
  /** The scheme of each request's Authorization header ("Bearer", "Basic"), "" without one. */
  readonly authSchemes: string[];
  count(method: string, pathPattern: RegExp): number;
  close(): Promise<void>;
}

export async function startFrontProxy(target: string): Promise<FrontProxy> {
  const log: string[] = [];
  const authSchemes: string[] = [];
  const proxy: FrontProxy = {
    url: "",
    host: "",
    mode: { kind: "pass" },
    log,
    authSchemes,
    count: (method, pattern) =>
      log.filter((line) => line.startsWith(`${method} `) && pattern.test(line.slice(method.length + 1)))
        .length,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    log.push(`${req.method} ${path}`);
    authSchemes.push((req.headers.authorization ?? "").split(" ")[0] ?? "");
    const mode = proxy.mode;
    // Like a registry: only an authorized request is sent on to the CDN (others get upstream's 401).
    const authorized = req.headers.authorization !== undefined;
    if (mode.kind === "redirect-blobs" && authorized && req.method === "GET" && /\/blobs\//.test(path)) {
      res.writeHead(307, { location: `${mode.to}${path}?X-Signature=test-signed-url` }).end();
      return;
    }
    if (mode.kind === "down") {
      if (mode.reset) {
        req.socket.destroy();
        return;
      }
      res.writeHead(503, { "content-type": "text/plain" }).end("maintenance\n");
      return;
    }
    if (mode.kind === "ratelimit") {
      const body = JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] });
      res
        .writeHead(429, { "content-type": "application/json", "retry-after": mode.retryAfter ?? "17" })
        .end(body);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === "host" || name === "connection" || value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    const upstream = await request(`${target}${req.url ?? "/"}`, {
      method: req.method as "GET",
      headers,
    });
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined || name === "connection" || name === "transfer-encoding") continue;
      out[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    if (
      mode.kind === "lie-manifest" &&
      req.method === "GET" &&
      /\/manifests\//.test(path) &&
      upstream.statusCode === 200
    ) {
      await upstream.body.dump();
      out["content-length"] = String(mode.bytes.length);
      res.writeHead(200, out).end(mode.bytes);
      return;
    }
    res.writeHead(upstream.statusCode, out);
    if (mode.kind === "lie-blob" && req.method === "GET" && /\/blobs\//.test(path)) {
      let first = true;
      for await (const chunk of upstream.body) {
        const buf = chunk as Buffer;
        if (first && buf.length > 0) {
          buf[0] = (buf[0] as number) ^ 0xff;
          first = false;
        }
        if (!res.write(buf)) await new Promise((resolve) => res.once("drain", resolve));
      }
      res.end();
      return;
    }
    await pipeline(upstream.body, res);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.host = `127.0.0.1:${port}`;
  return proxy;
}
