// The child side of the load generator (forked by `load-client.ts`): runs one job at a time with
// undici and answers with figures. Bodies are always read to the end and counted, never kept.
// Requests go through undici's low-level `dispatch`: on this machine a stream-based body reader
// caps a single download near 600 MB/s, below what nginx serves, while `dispatch` keeps up with
// curl (about 1.3 GB/s over loopback), so the client is not what is measured.
import { Client, type Dispatcher, Pool } from "undici";
import type {
  DownloadJob,
  DownloadResult,
  LoadJob,
  RequestsJob,
  RequestsResult,
  WorkerMessage,
} from "./load-client.js";

/** One GET whose body is counted and dropped chunk by chunk. */
function get(
  dispatcher: Dispatcher,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let bytes = 0;
    dispatcher.dispatch(
      { method: "GET", path, headers },
      {
        // undici takes a handler for the new (controller) API only when it has onRequestStart.
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(_controller, chunk) {
          bytes += chunk.length;
        },
        onResponseEnd() {
          resolve({ status, bytes });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
}

async function download(job: DownloadJob): Promise<DownloadResult> {
  const url = new URL(job.url);
  // One connection per client, as separate pip/uv processes would open.
  const clients = Array.from({ length: job.clients }, () => new Client(url.origin));
  try {
    const started = performance.now();
    const results = await Promise.all(
      clients.map(async (client) => {
        const t0 = performance.now();
        const { status, bytes } = await get(client, `${url.pathname}${url.search}`);
        return { bytes, seconds: (performance.now() - t0) / 1000, status };
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { bytes: results.reduce((sum, r) => sum + r.bytes, 0), seconds, clients: results };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function requests(job: RequestsJob): Promise<RequestsResult> {
  const url = new URL(job.url);
  const pool = new Pool(url.origin, { connections: job.connections, pipelining: 1 });
  const path = `${url.pathname}${url.search}`;
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  let bodyBytes = 0;
  try {
    const started = performance.now();
    const deadline = started + job.durationMs;
    await Promise.all(
      Array.from({ length: job.connections }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          try {
            const { status, bytes: n } = await get(pool, path, job.headers);
            latencies.push(performance.now() - t0);
            bytes += n;
            if (status === 200) bodyBytes = n;
            else errors++;
          } catch {
            errors++;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { requests: latencies.length, errors, bytes, seconds, latenciesMs: latencies, bodyBytes };
  } finally {
    await pool.close();
  }
}

process.on("message", (message: { id: number; job: LoadJob }) => {
  const run = message.job.kind === "download" ? download(message.job) : requests(message.job);
  run.then(
    (result) => process.send?.({ id: message.id, result } satisfies WorkerMessage),
    (error: unknown) =>
      process.send?.({
        id: message.id,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      } satisfies WorkerMessage),
  );
});
