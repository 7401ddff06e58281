// Entry point of the page worker thread (started by page-worker-pool.ts): runs page-work.ts off
// the main thread. Rows go back in batches, so the main thread stores them a slice at a time;
// rendered bytes are transferred, not copied.
import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";
import { FreshmirrorError } from "../errors.js";
import { SqliteProxyCacheRepository as ProxyCacheStore } from "../store/sqlite/sqlite-proxy-cache-repository.js";
import { loadBody, type ParseJob, parsePage, type RenderedPage, renderPage } from "./page-work.js";
import type { ProxyPageBody } from "./proxy-cache-store.js";

/** Rows per batch: each is stored in one transaction of a few ms, then the event loop moves on. */
export const ROW_BATCH = 500;

export type PageWorkerRequest =
  | { id: number; op: "parse"; job: ParseJob }
  | { id: number; op: "render"; project: string; stored: Uint8Array | string; pageDir: readonly string[] };

export type PageWorkerReply =
  | { id: number; type: "rows"; rows: import("../store/state-repositories.js").ProxyFileRow[] }
  /** `stored` is absent when the worker stored the page itself. */
  | { id: number; type: "done"; stored?: Uint8Array; rendered: RenderedPage }
  | { id: number; type: "error"; code?: string; status?: number; hint?: string; message: string };

const stores = new Map<string, ProxyCacheStore>();

/**
 * The worker's own connection to the state database. Storing a big page's files here keeps
 * hundreds of thousands of row objects (and the GC pauses they bring) off the main thread; WAL
 * lets both connections work, and each batch is a short transaction, so a write on the main
 * thread waits at most one batch. It stores synchronously: that is the SQLite backend's fast
 * path (no dbPath is given for another backend, whose rows come back to the main thread and are
 * stored there through the async ProxyCacheRepository).
 */
function storeFor(path: string): ProxyCacheStore {
  let store = stores.get(path);
  if (!store) {
    const db = new Database(path);
    db.pragma("busy_timeout = 5000");
    db.pragma("synchronous = NORMAL");
    store = new ProxyCacheStore(db);
    stores.set(path, store);
  }
  return store;
}

function transfers(page: RenderedPage, stored?: Uint8Array): ArrayBuffer[] {
  const buffers = [page.html.body, page.json.body, ...(stored ? [stored] : [])].map((b) => b.buffer);
  // Small Buffers share Node's pool; only whole ArrayBuffers of their own can be transferred.
  return [...new Set(buffers)].filter(
    (b): b is ArrayBuffer => b instanceof ArrayBuffer && b.byteLength > 8192,
  ) as ArrayBuffer[];
}

function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}

function ownPage(page: RenderedPage): RenderedPage {
  return {
    html: { body: own(page.html.body), etag: page.html.etag },
    json: { body: own(page.json.body), etag: page.json.etag },
  };
}

parentPort?.on("message", (request: PageWorkerRequest) => {
  const port = parentPort;
  if (!port) return;
  try {
    if (request.op === "parse") {
      const parsed = parsePage(request.job);
      const store = request.job.dbPath === undefined ? undefined : storeFor(request.job.dbPath);
      for (let i = 0; i < parsed.rows.length; i += ROW_BATCH) {
        const rows = parsed.rows.slice(i, i + ROW_BATCH);
        if (store) store.storeFiles(rows);
        else port.postMessage({ id: request.id, type: "rows", rows });
      }
      const rendered = ownPage(parsed.rendered);
      const stored = own(parsed.stored);
      const { job } = request;
      if (store) {
        // Last, so a page row never points at files not stored yet.
        store.storePage(
          {
            mirror: job.mirror,
            idx: job.idx,
            project: job.project,
            fetchedAt: job.fetchedAt,
            status: 200,
            etag: job.etag,
            lastModified: job.lastModified,
            body: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength),
          },
          [],
        );
        port.postMessage({ id: request.id, type: "done", rendered }, transfers(rendered));
      } else {
        port.postMessage({ id: request.id, type: "done", stored, rendered }, transfers(rendered, stored));
      }
    } else {
      const body: ProxyPageBody = loadBody(request.stored);
      const rendered = ownPage(renderPage(request.project, body, request.pageDir));
      port.postMessage({ id: request.id, type: "done", rendered }, transfers(rendered));
    }
  } catch (error) {
    const known = error instanceof FreshmirrorError ? error : undefined;
    port.postMessage({
      id: request.id,
      type: "error",
      code: known?.code,
      status: known?.status,
      hint: known?.hint,
      message: error instanceof Error ? error.message : String(error),
    });
  }
});
