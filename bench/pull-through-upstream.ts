// The pull-through benchmark's upstream, run as its own process (forked by `pull-through.ts`) so
// the clients and servers under test cannot starve its throttle of CPU: a node:http static
// server for one project, `bigwheel`, whose one wheel is served from disk with Content-Length,
// throttled by a token bucket that honours backpressure. It counts every request and byte it
// serves and reports them at `/_stats` as JSON.
//
// Paths: `/simple/` and `/simple/bigwheel/` (PEP 503 HTML, https://peps.python.org/pep-0503/),
// `/files/<wheel>`, `/_stats`. Anything else is a 404.
import { open } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/** Sent over IPC by the parent to start the server. */
export interface UpstreamStart {
  file: string;
  filename: string;
  sha256: string;
  size: number;
  /** Bytes per second for file bodies. */
  rate: number;
}

/** One request as the upstream saw it; times are epoch ms (performance.timeOrigin + now), comparable across processes. */
export interface UpstreamRequestLog {
  method: string;
  path: string;
  status: number;
  bytes: number;
  startMs: number;
  endMs: number;
}

export interface UpstreamStats {
  requests: number;
  bytes: number;
  fileRequests: number;
  fileBytes: number;
  log: UpstreamRequestLog[];
}

const CHUNK = 256 * 1024;
/** Burst allowance: at 200 MB/s about 5 ms of transfer. */
const BUCKET = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Token bucket: take(n) resolves when n bytes may go out; tokens accrue at `rate` up to `capacity`. */
class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #last = performance.now();

  constructor(rate: number, capacity: number) {
    this.#rate = rate;
    this.#capacity = capacity;
    this.#tokens = capacity;
  }

  async take(n: number): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
      this.#last = now;
      if (this.#tokens >= n) {
        this.#tokens -= n;
        return;
      }
      await sleep(Math.max(1, ((n - this.#tokens) / this.#rate) * 1000));
    }
  }
}

function pageHtml(start: UpstreamStart): string {
  return `<!DOCTYPE html>
<html>
  <head><meta name="pypi:repository-version" content="1.0"><title>Links for bigwheel</title></head>
  <body>
    <h1>Links for bigwheel</h1>
    <a href="/files/${start.filename}#sha256=${start.sha256}">${start.filename}</a><br/>
  </body>
</html>
`;
}

function serve(start: UpstreamStart): Promise<string> {
  const stats: UpstreamStats = { requests: 0, bytes: 0, fileRequests: 0, fileBytes: 0, log: [] };
  const filePath = `/files/${start.filename}`;
  const etag = `"${start.sha256}"`;

  const sendText = (res: ServerResponse, status: number, type: string, body: string): number => {
    const bytes = Buffer.from(body);
    res.writeHead(status, { "content-type": type, "content-length": bytes.length });
    res.end(bytes);
    return bytes.length;
  };

  const sendFile = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": start.size,
      etag,
      "accept-ranges": "none",
    });
    if (req.method === "HEAD") {
      res.end();
      return 0;
    }
    // Each response gets its own bucket: the limit is per transfer, as a CDN edge's would be.
    const bucket = new TokenBucket(start.rate, BUCKET);
    const handle = await open(start.file, "r");
    let sent = 0;
    try {
      while (sent < start.size) {
        if (res.destroyed) break;
        const length = Math.min(CHUNK, start.size - sent);
        await bucket.take(length);
        // A fresh buffer per write: res.write keeps a reference until the bytes are on the socket.
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await handle.read(buffer, 0, length, sent);
        if (bytesRead !== length) throw new Error(`short read of ${start.file} at ${sent}`);
        sent += length;
        if (!res.write(buffer)) {
          await new Promise<void>((resolve) => {
            const go = () => {
              res.off("drain", go);
              res.off("close", go);
              resolve();
            };
            res.on("drain", go);
            res.on("close", go);
          });
        }
      }
      res.end();
    } finally {
      await handle.close();
    }
    return sent;
  };

  const server = createServer((req, res) => {
    const startMs = performance.timeOrigin + performance.now();
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const isFile = path === filePath;
    const handled = (async (): Promise<number> => {
      if (path === "/_stats") return sendText(res, 200, "application/json", JSON.stringify(stats));
      if (path === "/simple/bigwheel/") return sendText(res, 200, "text/html", pageHtml(start));
      if (path === "/simple/") {
        return sendText(res, 200, "text/html", '<!DOCTYPE html><a href="/simple/bigwheel/">bigwheel</a>\n');
      }
      if (isFile) return sendFile(req, res);
      return sendText(res, 404, "text/plain", "not found\n");
    })();
    handled.then(
      (bytes) => {
        if (path === "/_stats") return;
        stats.requests++;
        stats.bytes += bytes;
        if (isFile) {
          stats.fileRequests++;
          stats.fileBytes += bytes;
        }
        stats.log.push({
          method: req.method ?? "",
          path,
          status: res.statusCode,
          bytes,
          startMs,
          endMs: performance.timeOrigin + performance.now(),
        });
      },
      (error: unknown) => {
        process.stderr.write(`bench upstream: ${String(error)}\n`);
        res.destroy();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

/** argv marker the parent forks this file with, so importing it for its types starts nothing. */
export const UPSTREAM_CHILD_FLAG = "--pull-through-upstream";

// Forked by the benchmark: wait for the file to serve, answer with the URL, exit with the parent.
if (process.send !== undefined && process.argv.includes(UPSTREAM_CHILD_FLAG)) {
  process.once("message", (message: UpstreamStart) => {
    serve(message).then(
      (url) => process.send?.({ url }),
      (error: unknown) => process.send?.({ error: String(error) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
}
