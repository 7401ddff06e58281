// Watch: cheap polls of the watched projects' upstream pages, so a new release is pulled minutes
// after upstream publishes it instead of at the next nightly sync. Each poll is a conditional
// GET (ETag / If-Modified-Since): an unchanged upstream costs one small 304 per page and no
// downloads. A changed page starts a targeted sync of its project. A page older than one already
// seen (a lower `X-PyPI-Last-Serial` / `<!--SERIAL-->` or download.pytorch.org `<!--TIMESTAMP-->`
// from a lagging CDN node) is ignored, never rolled back to.
import type { AppContext, MirrorContext } from "../app-context.js";
import { describeError } from "../errors.js";
import { isIndexPattern } from "../pypi/index-pattern.js";
import { normalizeProjectName } from "../pypi/project-page.js";
import { parseSimpleIndex, SIMPLE_INDEX_ACCEPT } from "../pypi/simple-index-content-type.js";
import { mapBounded } from "../pypi/sync-runner.js";
import type { LagRepository as LagStore } from "../store/state-repositories.js";
import { describeFailure } from "../upstream/root-cause.js";

interface PageState {
  etag: string | undefined;
  lastModified: string | undefined;
  serial: number | undefined;
  timestamp: number | undefined;
}

const RETRY_PENDING_MS = 60_000;

export interface WatchChange {
  idx: string;
  project: string;
}

export interface WatchCycle {
  mirror: string;
  pages: number;
  /** Requests sent (a 304 is one; retries and redirects count). */
  requests: number;
  /** Body bytes received. */
  bytes: number;
  notModified: number;
  changed: WatchChange[];
  /** Pages that went backwards (a stale CDN node): ignored. */
  ignoredStale: WatchChange[];
  errors: string[];
}

export interface WatcherOptions {
  /** Asks for a targeted sync of a project (queued behind a running sync; never dropped). */
  requestSync(mirror: string, project: string): void;
  log?(line: string): void;
  /** Polls per mirror at once. */
  concurrency?: number;
}

export class Watcher {
  readonly #app: AppContext;
  readonly #lag: LagStore;
  readonly #options: WatcherOptions;
  readonly #pages = new Map<string, PageState>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #polling = new Set<string>();
  readonly #retried = new Map<string, number>();
  #stopped = false;

  constructor(app: AppContext, lag: LagStore, options: WatcherOptions) {
    this.#app = app;
    this.#lag = lag;
    this.#options = options;
  }

  /** Mirrors with `watch:` set start polling; each cycle begins when the last one ended plus the interval. */
  start(): void {
    for (const mirror of this.#app.mirrors()) {
      const every = mirror.config.watchMs;
      if (every === undefined || mirror.config.disabled || mirror.config.mode !== "mirror") continue;
      this.#schedule(mirror, every);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(mirror: MirrorContext, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      const paused = mirror.config.paused || this.#app.state.getMirror(mirror.config.name).paused;
      const cycle = paused ? Promise.resolve() : this.pollOnce(mirror.config.name).then(() => undefined);
      void cycle
        .catch((error: unknown) =>
          this.#options.log?.(`watch ${mirror.config.name}: ${describeError(error)}`),
        )
        .finally(() => this.#schedule(mirror, mirror.config.watchMs ?? delayMs));
    }, delayMs);
    timer.unref();
    this.#timers.set(mirror.config.name, timer);
  }

  /** The pages a mirror watches: its configured projects (or those it has published) in every index. */
  targets(mirror: MirrorContext): WatchChange[] {
    const targets: WatchChange[] = [];
    // Patterns (proxy mirrors) name no page to watch.
    for (const idx of mirror.config.indexes.filter((i) => !isIndexPattern(i))) {
      let projects = mirror.config.projects?.map(normalizeProjectName);
      if (!projects) {
        const snapshotId = this.#app.state.currentSnapshotId(mirror.config.name, idx);
        projects = snapshotId === undefined ? [] : this.#app.state.projects(snapshotId).map((p) => p.name);
      }
      for (const project of projects) targets.push({ idx, project });
    }
    return targets;
  }

  /** What the last published snapshot recorded of a page: the starting point after a restart. */
  #seed(mirror: string, idx: string, project: string): PageState {
    const snapshotId = this.#app.state.currentSnapshotId(mirror, idx);
    const record = snapshotId === undefined ? undefined : this.#app.state.project(snapshotId, project);
    return {
      etag: record?.upstreamEtag ?? undefined,
      lastModified: undefined,
      serial: record?.upstreamSerial ?? undefined,
      timestamp: record?.upstreamTimestamp ?? undefined,
    };
  }

  /** One watch cycle over every watched page of a mirror. */
  async pollOnce(mirrorName: string): Promise<WatchCycle> {
    const mirror = this.#app.mirror(mirrorName);
    const cycle: WatchCycle = {
      mirror: mirrorName,
      pages: 0,
      requests: 0,
      bytes: 0,
      notModified: 0,
      changed: [],
      ignoredStale: [],
      errors: [],
    };
    if (this.#polling.has(mirrorName)) return cycle;
    this.#polling.add(mirrorName);
    const requestsBefore = mirror.client.requestCount;
    try {
      const targets = this.targets(mirror);
      cycle.pages = targets.length;
      await mapBounded(targets, this.#options.concurrency ?? 8, async (target) => {
        try {
          await this.#poll(mirror, target, cycle);
        } catch (error) {
          cycle.errors.push(`${describeFailure(error)} (watching ${target.idx}/${target.project})`);
        }
      });
    } finally {
      cycle.requests = mirror.client.requestCount - requestsBefore;
      this.#polling.delete(mirrorName);
    }
    for (const error of cycle.errors) this.#options.log?.(`watch ${mirrorName}: ${error}`);
    // A cycle that could not read every page leaves the lag unknown until one can.
    if (cycle.pages > 0) this.#lag.recordCheck(mirrorName, Date.now(), cycle.errors[0]);
    return cycle;
  }

  async #poll(mirror: MirrorContext, target: WatchChange, cycle: WatchCycle): Promise<void> {
    const name = mirror.config.name;
    const key = `${name}\0${target.idx}\0${target.project}`;
    const known = this.#pages.get(key) ?? this.#seed(name, target.idx, target.project);
    const url = `${mirror.config.upstream}/${target.idx}/${target.project}/`;
    const response = await mirror.client.fetchPage(
      url,
      SIMPLE_INDEX_ACCEPT,
      { etag: known.etag, lastModified: known.lastModified },
      { retries: 0 },
    );
    cycle.bytes += Buffer.byteLength(response.body);
    if (response.status === 304) {
      cycle.notModified++;
      this.#pages.set(key, known);
      // A change seen earlier whose sync failed is still pending: ask again, at most once a minute.
      const now = Date.now();
      if (
        this.#lag.lagMs(name, now, target.project) > 0 &&
        now - (this.#retried.get(key) ?? 0) >= RETRY_PENDING_MS
      ) {
        this.#retried.set(key, now);
        this.#options.requestSync(name, target.project);
      }
      return;
    }
    const next: PageState = {
      etag: response.etag,
      lastModified: response.lastModified,
      serial: undefined,
      timestamp: undefined,
    };
    if (response.status === 200) {
      const headerSerial = Number(response.headers["x-pypi-last-serial"]);
      const page = parseSimpleIndex(response.body, response.contentType, response.url, target.project);
      next.serial = Number.isFinite(headerSerial) ? headerSerial : page.meta.lastSerial;
      next.timestamp = page.meta.timestamp;
    }
    const older =
      (next.serial !== undefined && known.serial !== undefined && next.serial < known.serial) ||
      (next.timestamp !== undefined && known.timestamp !== undefined && next.timestamp < known.timestamp);
    if (older) {
      // Keep the newer state we had; a lagging CDN node does not roll the mirror back.
      cycle.ignoredStale.push(target);
      this.#options.log?.(
        `watch ${name}: ignored an older page of ${target.idx}/${target.project} (stale upstream node)`,
      );
      return;
    }
    const same =
      (next.serial !== undefined && next.serial === known.serial) ||
      (next.serial === undefined && next.timestamp !== undefined && next.timestamp === known.timestamp);
    this.#pages.set(key, next);
    if (same) return;
    cycle.changed.push(target);
    this.#lag.recordChange(name, target.idx, target.project, Date.now());
    this.#retried.set(key, Date.now());
    this.#options.log?.(`watch ${name}: ${target.idx}/${target.project} changed upstream; syncing it`);
    this.#options.requestSync(name, target.project);
  }
}
