// The parent side of the load generator: forks `load-worker.js` so the client never shares an
// event loop (or a core's worth of scheduling) with the server it measures, sends it jobs over
// IPC and waits for each result.
import { type ChildProcess, fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** `clients` connections each GET the URL once and read the whole body, counting bytes. */
export interface DownloadJob {
  kind: "download";
  url: string;
  clients: number;
}

export interface DownloadResult {
  /** Body bytes received by all clients together. */
  bytes: number;
  /** From the first request sent to the last body byte received. */
  seconds: number;
  /** Per client: body bytes, seconds, status. */
  clients: { bytes: number; seconds: number; status: number }[];
}

/** `connections` keep-alive connections send GETs back to back for `durationMs`. */
export interface RequestsJob {
  kind: "requests";
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
}

export interface RequestsResult {
  requests: number;
  /** Requests that failed or answered anything but 200. */
  errors: number;
  bytes: number;
  seconds: number;
  /** Every request's time, first byte sent to last byte received, in ms. */
  latenciesMs: number[];
  /** Body length of the last 200 seen, to check both servers sent the same page. */
  bodyBytes: number;
}

export type LoadJob = DownloadJob | RequestsJob;
export type LoadResult<J extends LoadJob> = J extends DownloadJob ? DownloadResult : RequestsResult;

export interface WorkerMessage {
  id: number;
  result?: DownloadResult | RequestsResult;
  error?: string;
}

export interface LoadClient {
  readonly pid: number;
  run<J extends LoadJob>(job: J): Promise<LoadResult<J>>;
  close(): Promise<void>;
}

export async function startLoadClient(): Promise<LoadClient> {
  const worker = join(dirname(fileURLToPath(import.meta.url)), "load-worker.js");
  const child: ChildProcess = fork(worker, [], {
    execArgv: ["--enable-source-maps"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", reject);
  });
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  child.on("message", (message: WorkerMessage) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(`load worker: ${message.error}`));
    else waiter.resolve(message.result as never);
  });
  child.on("exit", (code, signal) => {
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`load worker exited (${code ?? signal}) with a job pending`));
    }
    pending.clear();
  });
  return {
    pid: child.pid as number,
    run<J extends LoadJob>(job: J): Promise<LoadResult<J>> {
      const id = nextId++;
      return new Promise<LoadResult<J>>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: never) => void, reject });
        child.send({ id, job });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.disconnect();
      }),
  };
}
