// The pull-through benchmark's clients, run as their own process (forked by `pull-through.ts`):
// N connections send one GET each, all in the same tick, and read the whole body. Per client it
// records when the headers and the first and last body bytes arrived, counts the bytes and, for
// the clients asked to, hashes them (hashing all 32 × 512 MiB would take this machine's CPUs
// longer than the transfer itself). Requests go through undici's `dispatch`, as in
// `load-worker.ts`, so the client reader is not what is measured.
import { createHash, type Hash } from "node:crypto";
import { Client } from "undici";

export interface ClientsJob {
  url: string;
  clients: number;
  /** Indexes of the clients that sha256 their body. */
  hash: number[];
}

export interface ClientFigures {
  status: number;
  bytes: number;
  /** The response's X-Cache (freshmirror) or X-Cache-Status (nginx) header. */
  cache: string;
  /** ms from the batch start to this client's request being dispatched. */
  startMs: number;
  /** ms from this client's request to the response headers. */
  headersMs: number;
  /** ms from this client's request to the first body byte. */
  ttfbMs: number;
  /** ms from this client's request to the last body byte. */
  ttlbMs: number;
  sha256: string | undefined;
  error: string | undefined;
}

export interface ClientsResult {
  /** Epoch ms (performance.timeOrigin + now) of the batch start, to line up with the upstream's log. */
  startEpochMs: number;
  /** ms from the batch start to the last client's last byte. */
  wallMs: number;
  clients: ClientFigures[];
}

/** argv marker the parent forks this file with, so importing it for its types starts nothing. */
export const CLIENTS_CHILD_FLAG = "--pull-through-clients";

function fetchOne(client: Client, path: string, hash: Hash | undefined, batchStart: number) {
  return new Promise<ClientFigures>((resolve) => {
    const t0 = performance.now();
    const figures: ClientFigures = {
      status: 0,
      bytes: 0,
      cache: "",
      startMs: t0 - batchStart,
      headersMs: Number.NaN,
      ttfbMs: Number.NaN,
      ttlbMs: Number.NaN,
      sha256: undefined,
      error: undefined,
    };
    client.dispatch(
      { method: "GET", path, headers: { "accept-encoding": "identity" } },
      {
        // undici takes a handler for the new (controller) API only when it has onRequestStart.
        onRequestStart() {},
        onResponseStart(_controller, statusCode, headers) {
          figures.headersMs = performance.now() - t0;
          figures.status = statusCode;
          const cache = headers["x-cache"] ?? headers["x-cache-status"];
          figures.cache = Array.isArray(cache) ? cache.join(",") : (cache ?? "");
        },
        onResponseData(_controller, chunk) {
          if (figures.bytes === 0) figures.ttfbMs = performance.now() - t0;
          figures.bytes += chunk.length;
          hash?.update(chunk);
        },
        onResponseEnd() {
          figures.ttlbMs = performance.now() - t0;
          figures.sha256 = hash?.digest("hex");
          resolve(figures);
        },
        onResponseError(_controller, error) {
          figures.ttlbMs = performance.now() - t0;
          figures.error = error.message;
          resolve(figures);
        },
      },
    );
  });
}

async function runJob(job: ClientsJob): Promise<ClientsResult> {
  const url = new URL(job.url);
  const path = `${url.pathname}${url.search}`;
  // One connection per client, as separate pip/uv processes would open; no pipelining.
  const clients = Array.from(
    { length: job.clients },
    () => new Client(url.origin, { headersTimeout: 600_000, bodyTimeout: 600_000 }),
  );
  try {
    const batchStart = performance.now();
    const figures = await Promise.all(
      clients.map((client, i) =>
        fetchOne(client, path, job.hash.includes(i) ? createHash("sha256") : undefined, batchStart),
      ),
    );
    return {
      startEpochMs: performance.timeOrigin + batchStart,
      wallMs: performance.now() - batchStart,
      clients: figures,
    };
  } finally {
    await Promise.all(clients.map((c) => c.destroy()));
  }
}

if (process.send !== undefined && process.argv.includes(CLIENTS_CHILD_FLAG)) {
  process.once("message", (job: ClientsJob) => {
    runJob(job).then(
      (result) => process.send?.({ result }, () => process.exit(0)),
      (error: unknown) =>
        process.send?.(
          { error: error instanceof Error ? (error.stack ?? error.message) : String(error) },
          () => process.exit(1),
        ),
    );
  });
}
