// The in-process event bus: syncs and (later) the OCI mirror emit events; hooks and the SSE stream
// (`GET /api/v1/events`) subscribe. Events carry a monotonic id so an SSE client can resume with
// `Last-Event-ID` from the bounded ring of recent events. Emitting never throws: a failing
// listener is logged and the others still run, so a broken hook cannot fail a sync.
import { fallbackLogger, type Logger } from "../logging/logger.js";

interface EventBase {
  /** Monotonic within this process (starting after `EventBusOptions.startId`). */
  id: number;
  /** ISO 8601 time of emission. */
  time: string;
}

export interface SyncStartedEvent extends EventBase {
  type: "sync.started";
  mirror: string;
  runId: number;
  /** Set for a targeted sync of one project. */
  project?: string;
}

export interface SyncSucceededEvent extends EventBase {
  type: "sync.succeeded";
  mirror: string;
  runId: number;
  project?: string;
  filesAdded: number;
  bytesAdded: number;
  filesRemoved: number;
  durationMs: number;
}

export interface SyncFailedEvent extends EventBase {
  type: "sync.failed";
  mirror: string;
  runId: number;
  project?: string;
  /** A message safe to show (no credentials). */
  error: string;
}

export interface ReleaseFile {
  filename: string;
  /** The file's URL on this mirror (under `public_url`). */
  url: string;
  sha256: string;
  size: number;
}

/** A version of a project that the mirror has just published (it was not in the previous snapshot). */
export interface ReleaseNewEvent extends EventBase {
  type: "release.new";
  mirror: string;
  project: string;
  version: string;
  files: ReleaseFile[];
  /** The sync run that published it, when known. */
  runId?: number;
}

/**
 * An image tag the mirror serves now points at another manifest (emitted by an OCI mirror when a
 * sync publishes the move: after a watch saw it, or on a scheduled sync).
 */
export interface ImageUpdatedEvent extends EventBase {
  type: "image.updated";
  mirror: string;
  repository: string;
  tag: string;
  /** The digest the mirror served before; absent when the tag is new to the mirror. */
  oldDigest?: string;
  newDigest: string;
  /** The sync run that published it, when known. */
  runId?: number;
}

/**
 * Where a running sync is (throttled, at most a few a second per mirror). Transient: not
 * numbered, not kept for replay, never given to hooks; only the SSE stream and the status page
 * follow it. Figures as in SyncProgress (src/sync/sync-step.ts), plus rate and ETA.
 */
export interface SyncProgressEvent {
  type: "sync.progress";
  /** ISO 8601 time of emission. */
  time: string;
  mirror: string;
  runId: number | null;
  project?: string;
  phase: "index" | "download" | "publish";
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  /** Bytes of the files to fetch, sizes not yet known estimated from the known ones. */
  bytesTotal: number;
  /** Whether `bytesTotal` is exact (every size known) or an estimate. */
  bytesTotalExact: boolean;
  /** Bytes per second since the downloads began. */
  rate: number;
  /** Milliseconds left at that rate; null when unknown. */
  etaMs: number | null;
  /** 0..1 */
  fraction: number;
  /** When the run started (ISO 8601). */
  startedAt: string;
  /** The run is over (its sync.succeeded / sync.failed follows). */
  done: boolean;
}

export type TransientEvent = SyncProgressEvent;

export type FreshmirrorEvent =
  | SyncStartedEvent
  | SyncSucceededEvent
  | SyncFailedEvent
  | ReleaseNewEvent
  | ImageUpdatedEvent;

export type EventType = FreshmirrorEvent["type"];

export const EVENT_TYPES: readonly EventType[] = Object.freeze([
  "sync.started",
  "sync.succeeded",
  "sync.failed",
  "release.new",
  "image.updated",
]);

// Names operators may also write in `hooks[].on` and the SSE `type` query: the wording
// (`new_version`) and snake_case spellings of the dotted types.
const EVENT_TYPE_ALIASES: Readonly<Record<string, EventType>> = Object.freeze({
  new_version: "release.new",
  new_release: "release.new",
  release_new: "release.new",
  sync_started: "sync.started",
  sync_succeeded: "sync.succeeded",
  sync_failed: "sync.failed",
  image_updated: "image.updated",
  tag_moved: "image.updated",
  image_tag_moved: "image.updated",
  "image.tag_moved": "image.updated",
});

/**
 * The event types a name stands for: a type (`sync.failed`), an alias (`new_version`), a prefix
 * wildcard (`sync.*`) or `*`. Undefined when it names none.
 */
export function resolveEventTypes(name: string): EventType[] | undefined {
  const text = name.trim().toLowerCase();
  if (text === "*") return [...EVENT_TYPES];
  if (text.endsWith(".*")) {
    const prefix = text.slice(0, -1);
    const matched = EVENT_TYPES.filter((t) => t.startsWith(prefix));
    return matched.length > 0 ? matched : undefined;
  }
  if ((EVENT_TYPES as readonly string[]).includes(text)) return [text as EventType];
  const alias = EVENT_TYPE_ALIASES[text];
  return alias === undefined ? undefined : [alias];
}

/** Every name `resolveEventTypes` accepts besides wildcards, for error messages. */
export function eventTypeNames(): string[] {
  return [...EVENT_TYPES, ...Object.keys(EVENT_TYPE_ALIASES)];
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What an emitter passes: an event without `id` and `time`, which the bus assigns. */
export type EventInput = DistributiveOmit<FreshmirrorEvent, "id" | "time">;

export type EventListener = (event: FreshmirrorEvent) => void | Promise<void>;

export interface EventBusOptions {
  /** How many recent events are kept for replay. Default 1000. */
  capacity?: number;
  /** The id after which numbering starts (e.g. the last id persisted by a previous process). Default 0. */
  startId?: number;
  /** Where a failing listener is reported. Default: logged (`logger`). */
  onListenerError?: (error: unknown, event: FreshmirrorEvent) => void;
  /** Default: a stderr logger. */
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => Date;
}

/** The version and project an event is about, when it has them (for filters and placeholders). */
export function eventSubject(event: FreshmirrorEvent): {
  mirror: string;
  project: string | undefined;
  version: string | undefined;
} {
  switch (event.type) {
    case "release.new":
      return { mirror: event.mirror, project: event.project, version: event.version };
    case "image.updated":
      return { mirror: event.mirror, project: event.repository, version: event.tag };
    default:
      return { mirror: event.mirror, project: event.project, version: undefined };
  }
}

export class EventBus {
  readonly capacity: number;
  readonly #listeners = new Set<EventListener>();
  readonly #transientListeners = new Set<(event: TransientEvent) => void>();
  // A ring of the most recent events, oldest first from #start.
  readonly #ring: (FreshmirrorEvent | undefined)[];
  #start = 0;
  #size = 0;
  #lastId: number;
  readonly #onListenerError: (error: unknown, event: FreshmirrorEvent) => void;
  readonly #now: () => Date;

  constructor(options: EventBusOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? 1000));
    this.#ring = new Array<FreshmirrorEvent | undefined>(this.capacity);
    this.#lastId = options.startId ?? 0;
    this.#onListenerError =
      options.onListenerError ??
      ((error, event) =>
        (options.logger ?? fallbackLogger()).error(
          { err: error, event: event.type, eventId: event.id },
          `an event listener failed on ${event.type} #${event.id}`,
        ));
    this.#now = options.now ?? (() => new Date());
  }

  /** The id of the last event emitted (the start id when none was). */
  get lastId(): number {
    return this.#lastId;
  }

  /** Numbers, timestamps, records and delivers an event; returns it. Never throws. */
  emit(input: EventInput): FreshmirrorEvent {
    const event = Object.freeze({
      id: ++this.#lastId,
      time: this.#now().toISOString(),
      ...input,
    }) as FreshmirrorEvent;
    this.#push(event);
    // A copy, so a listener that unsubscribes (or subscribes) while running does not upset the loop.
    for (const listener of [...this.#listeners]) {
      try {
        const result = listener(event);
        if (result && typeof (result as Promise<void>).then === "function") {
          (result as Promise<void>).then(undefined, (error: unknown) => this.#report(error, event));
        }
      } catch (error) {
        this.#report(error, event);
      }
    }
    return event;
  }

  /**
   * Delivers a transient event (progress) to its listeners now: no id, no ring, no hooks. Never
   * throws.
   */
  emitTransient(event: TransientEvent): void {
    for (const listener of [...this.#transientListeners]) {
      try {
        listener(event);
      } catch {
        // A progress listener (an SSE client) failing must not reach the sync that reported it.
      }
    }
  }

  /** Calls `listener` for every transient event from now on; returns the function that stops it. */
  subscribeTransient(listener: (event: TransientEvent) => void): () => void {
    const entry = (event: TransientEvent) => listener(event);
    this.#transientListeners.add(entry);
    return () => {
      this.#transientListeners.delete(entry);
    };
  }

  /** Calls `listener` for every event from now on; returns the function that stops it. */
  subscribe(listener: EventListener): () => void {
    // Wrapped so the same function subscribed twice is two subscriptions, each removable once.
    const entry: EventListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Number of current subscribers. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /**
   * Recent events still in the ring, oldest first; with `sinceId`, only those after it. Events
   * older than the ring holds are gone: compare the first id with `sinceId + 1` to tell.
   */
  recent(sinceId?: number): FreshmirrorEvent[] {
    const out: FreshmirrorEvent[] = [];
    for (let i = 0; i < this.#size; i++) {
      const event = this.#ring[(this.#start + i) % this.capacity];
      if (event !== undefined && (sinceId === undefined || event.id > sinceId)) out.push(event);
    }
    return out;
  }

  #push(event: FreshmirrorEvent): void {
    if (this.#size < this.capacity) {
      this.#ring[(this.#start + this.#size) % this.capacity] = event;
      this.#size++;
    } else {
      this.#ring[this.#start] = event;
      this.#start = (this.#start + 1) % this.capacity;
    }
  }

  #report(error: unknown, event: FreshmirrorEvent): void {
    try {
      this.#onListenerError(error, event);
    } catch {
      // The reporter itself failed; nothing more can be done without throwing into the emitter.
    }
  }
}
