// One worker thread for proxied pages (page-worker.ts): parsing and rendering a big upstream
// page takes seconds of CPU, which on the main thread would stall every other request. Jobs
// queue on the one worker; a page is parsed once per upstream version, so one is enough.
import { Worker } from "node:worker_threads";
import { FreshmirrorError, InternalError, isErrorCode } from "../errors.js";
import type { ProxyFileRow } from "../store/state-repositories.js";
import type { ParseJob, RenderedPage } from "./page-work.js";
import type { PageWorkerReply, PageWorkerRequest } from "./page-worker.js";

type WorkerJob = PageWorkerRequest extends infer R
  ? R extends PageWorkerRequest
    ? Omit<R, "id">
    : never
  : never;

interface Pending {
  onRows: (rows: ProxyFileRow[]) => void;
  resolve: (reply: { stored?: Uint8Array; rendered: RenderedPage }) => void;
  reject: (error: Error) => void;
}

/** What the worker has done, for tests and metrics: a second hit on a page parses nothing. */
export const pageWorkStats = { parses: 0, renders: 0 };

/** An idle worker is ended after this long: parsing a big page leaves its heap large. */
const IDLE_EXIT_MS = 30_000;

export class PageWorkerPool {
  #worker: Worker | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  #start(): Worker {
    clearTimeout(this.#idleTimer);
    if (this.#worker) return this.#worker;
    // Beside this file in dist/ as in src/: `new URL` resolves it in both.
    const worker = new Worker(new URL("./page-worker.js", import.meta.url));
    worker.unref();
    worker.on("message", (reply: PageWorkerReply) => this.#onReply(reply));
    // Only the current worker has jobs in flight; one ended while idle has none.
    worker.on("error", (error) => {
      if (this.#worker === worker) this.#failAll(error);
    });
    worker.on("exit", (code) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(new InternalError(`page worker exited with code ${code}`));
    });
    this.#worker = worker;
    return worker;
  }

  #onReply(reply: PageWorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    if (reply.type === "rows") {
      pending.onRows(reply.rows);
      return;
    }
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#idle();
    if (reply.type === "done") {
      pending.resolve({ ...(reply.stored ? { stored: reply.stored } : {}), rendered: reply.rendered });
    } else {
      pending.reject(
        // The code crossed a thread as a plain string: only a known one becomes a coded error.
        !isErrorCode(reply.code)
          ? new Error(reply.message)
          : new FreshmirrorError(reply.code, reply.message, {
              ...(reply.status === undefined ? {} : { status: reply.status }),
              ...(reply.hint === undefined ? {} : { hint: reply.hint }),
            }),
      );
    }
  }

  #idle(): void {
    const worker = this.#worker;
    worker?.unref();
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#worker !== worker || this.#pending.size > 0) return;
      this.#worker = undefined;
      void worker?.terminate();
    }, IDLE_EXIT_MS);
    this.#idleTimer.unref();
  }

  #failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }

  #run(
    request: WorkerJob,
    onRows: (rows: ProxyFileRow[]) => void = () => undefined,
    transfer: ArrayBuffer[] = [],
  ): Promise<{ stored?: Uint8Array; rendered: RenderedPage }> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { onRows, resolve, reject });
      // A job in flight keeps the process alive; an idle worker does not.
      worker.ref();
      worker.postMessage({ ...request, id }, transfer);
    });
  }

  /**
   * Parses and renders an upstream page. With `job.dbPath` the worker stores the page and its
   * files itself and `stored` is undefined; else `onRows` receives its files a batch at a time
   * and the caller stores them and `stored`.
   */
  async parse(
    job: ParseJob,
    onRows: (rows: ProxyFileRow[]) => void,
  ): Promise<{ stored: Uint8Array | undefined; rendered: RenderedPage }> {
    pageWorkStats.parses++;
    // Moved to the worker, not copied: chunks that own their whole memory are transferred (a
    // structured clone of tens of MB would block this thread); the rest are copied one by one.
    const bytes = job.bytes.map((chunk) =>
      chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : new Uint8Array(chunk),
    );
    const transfer = [...new Set(bytes.map((b) => b.buffer))].filter((b) => b instanceof ArrayBuffer);
    const { stored, rendered } = await this.#run({ op: "parse", job: { ...job, bytes } }, onRows, transfer);
    return { stored, rendered };
  }

  /** Renders a stored page body again (after a restart, or once evicted from memory). */
  async render(
    project: string,
    stored: Uint8Array | string,
    pageDir: readonly string[],
  ): Promise<RenderedPage> {
    pageWorkStats.renders++;
    return (await this.#run({ op: "render", project, stored, pageDir })).rendered;
  }

  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
  }
}
