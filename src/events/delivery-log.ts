// The hook delivery log: one entry per attempt, kept in a bounded ring in memory and appended as
// JSON lines to a file (normally `<data_dir>/logs/hooks.log`). Writing never throws: a log file
// that cannot be written is reported and the deliveries go on.
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { FreshmirrorEvent } from "./event-bus.js";
import { errorText } from "./hook-result.js";

/** One attempt, as written to the delivery log. */
export interface DeliveryLogEntry {
  time: string;
  hook: string;
  kind: "webhook" | "command";
  event: number;
  eventType: FreshmirrorEvent["type"];
  /** The same for every attempt of one delivery (the webhook's `X-Freshmirror-Delivery`). */
  delivery: string;
  attempt: number;
  ok: boolean;
  /** HTTP status of a webhook attempt that got an answer. */
  status?: number;
  /** A command's exit code, or the signal that ended it. */
  exitCode?: number;
  signal?: string;
  timedOut?: boolean;
  error?: string;
  durationMs: number;
  /** Whether another attempt follows. */
  retrying: boolean;
}

/** What a deliverer records: an entry before the log stamps its time and event fields. */
export type AttemptRecord = Omit<DeliveryLogEntry, "time" | "event" | "eventType"> & {
  event: FreshmirrorEvent;
};

export interface DeliveryLogOptions {
  /** Append-only JSON-lines file; none when undefined. */
  file?: string | undefined;
  /** Entries kept in memory. */
  capacity: number;
  /** Where a failed file write is reported. */
  onError: (message: string) => void;
}

export class DeliveryLog {
  readonly #entries: DeliveryLogEntry[] = [];
  readonly #options: DeliveryLogOptions;
  readonly #capacity: number;
  #write: Promise<void> = Promise.resolve();
  #dirReady: Promise<unknown> | undefined;

  constructor(options: DeliveryLogOptions) {
    this.#options = options;
    this.#capacity = Math.max(1, options.capacity);
  }

  /** Adds an attempt to the ring and queues its line for the file (in order). */
  record(entry: AttemptRecord): void {
    const line: DeliveryLogEntry = {
      ...entry,
      time: new Date().toISOString(),
      event: entry.event.id,
      eventType: entry.event.type,
    };
    this.#entries.push(line);
    if (this.#entries.length > this.#capacity) this.#entries.splice(0, this.#entries.length - this.#capacity);
    const file = this.#options.file;
    if (file === undefined) return;
    this.#dirReady ??= mkdir(dirname(file), { recursive: true });
    const dirReady = this.#dirReady;
    this.#write = this.#write
      .then(() => dirReady)
      .then(() => appendFile(file, `${JSON.stringify(orderedEntry(line))}\n`))
      .catch((error: unknown) =>
        this.#options.onError(`cannot write the hook delivery log ${file}: ${errorText(error)}`),
      );
  }

  /** Entries in memory, oldest first. */
  entries(): DeliveryLogEntry[] {
    return [...this.#entries];
  }

  /** Resolves once every line recorded so far is in the file (or reported as not written). */
  flushed(): Promise<void> {
    return this.#write;
  }
}

// `time` first in each log line, so the file reads well with `tail`.
function orderedEntry(entry: DeliveryLogEntry): DeliveryLogEntry {
  const { time, ...rest } = entry;
  return { time, ...rest };
}
