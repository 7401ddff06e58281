// Watch: cheap polls of the watched projects' upstream pages, so a new release is pulled minutes
// after upstream publishes it instead of at the next nightly sync. This is the generic loop; the
// mirror's kind gives the probe (which pages, one conditional poll: src/pypi/watch-probe.ts).
// An unchanged upstream costs one small 304 per page and no downloads. A changed page starts a
// targeted sync of its project. A page older than one already seen (a lower serial or timestamp,
// from a lagging CDN node) is ignored, never rolled back to.
import type { MirrorConfigBase } from "../config/base-mirror.js";
import { describeError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { LagRepository as LagStore, StateRepositories } from "../store/state-repositories.js";
import { describeFailure } from "../upstream/root-cause.js";
import { mapBounded } from "./bounded-map.js";
import type { PageState, WatchProbe, WatchTarget } from "./watch-probe.js";

/** A mirror as the watcher sees it: its config, its client's request count, its kind's probe. */
export interface WatchedMirror {
  readonly config: MirrorConfigBase;
  readonly client: { readonly requestCount: number };
  readonly watchProbe: WatchProbe | undefined;
}

export interface WatcherDeps {
  readonly state: Pick<StateRepositories, "mirrors">;
  readonly logger: Logger;
  mirrors(): readonly WatchedMirror[];
  mirror(name: string): WatchedMirror;
}

const RETRY_PENDING_MS = 60_000;

export type WatchChange = WatchTarget;

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
  requestSync(mirror: string, project: string): void | Promise<void>;
  /** Default: the app's logger. */
  logger?: Logger;
  /** Polls per mirror at once. */
  concurrency?: number;
}

export class Watcher {
  readonly #app: WatcherDeps;
  readonly #lag: LagStore;
  readonly #options: WatcherOptions;
  readonly #pages = new Map<string, PageState>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #polling = new Set<string>();
  readonly #retried = new Map<string, number>();
  #stopped = false;

  readonly #logger: Logger;

  constructor(app: WatcherDeps, lag: LagStore, options: WatcherOptions) {
    this.#app = app;
    this.#lag = lag;
    this.#options = options;
    this.#logger = options.logger ?? app.logger;
  }

  /** Mirrors with `watch:` set start polling; each cycle begins when the last one ended plus the interval. */
  start(): void {
    for (const mirror of this.#app.mirrors()) {
      const every = mirror.config.watchMs;
      if (every === undefined || mirror.config.disabled || mirror.config.mode !== "mirror") continue;
      if (mirror.watchProbe === undefined) continue;
      this.#schedule(mirror, every);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(mirror: WatchedMirror, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      const cycle = async () => {
        const paused = mirror.config.paused || (await this.#app.state.mirrors.get(mirror.config.name)).paused;
        if (!paused) await this.pollOnce(mirror.config.name);
      };
      cycle()
        .catch((error: unknown) =>
          this.#logger.warn(
            { mirror: mirror.config.name },
            `watch ${mirror.config.name}: ${describeError(error)}`,
          ),
        )
        .finally(() => this.#schedule(mirror, mirror.config.watchMs ?? delayMs));
    }, delayMs);
    timer.unref();
    this.#timers.set(mirror.config.name, timer);
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
      const targets = (await mirror.watchProbe?.targets()) ?? [];
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
    for (const error of cycle.errors)
      this.#logger.warn({ mirror: mirrorName }, `watch ${mirrorName}: ${error}`);
    // A cycle that could not read every page leaves the lag unknown until one can.
    if (cycle.pages > 0) await this.#lag.recordCheck(mirrorName, Date.now(), cycle.errors[0]);
    return cycle;
  }

  async #poll(mirror: WatchedMirror, target: WatchChange, cycle: WatchCycle): Promise<void> {
    const probe = mirror.watchProbe as WatchProbe;
    const name = mirror.config.name;
    const key = `${name}\0${target.idx}\0${target.project}`;
    const known = this.#pages.get(key) ?? (await probe.seed(target));
    const result = await probe.poll(target, known);
    cycle.bytes += result.bytes;
    if (result.notModified) {
      cycle.notModified++;
      this.#pages.set(key, known);
      // A change seen earlier whose sync failed is still pending: ask again, at most once a minute.
      const now = Date.now();
      if (
        now - (this.#retried.get(key) ?? 0) >= RETRY_PENDING_MS &&
        (await this.#lag.lagMs(name, now, target.project)) > 0
      ) {
        this.#retried.set(key, now);
        await this.#options.requestSync(name, target.project);
      }
      return;
    }
    const next: PageState = result.state;
    const older =
      (next.serial !== undefined && known.serial !== undefined && next.serial < known.serial) ||
      (next.timestamp !== undefined && known.timestamp !== undefined && next.timestamp < known.timestamp);
    if (older) {
      // Keep the newer state we had; a lagging CDN node does not roll the mirror back.
      cycle.ignoredStale.push(target);
      this.#logger.info(
        { mirror: name },
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
    this.#retried.set(key, Date.now());
    await this.#lag.recordChange(name, target.idx, target.project, Date.now());
    this.#logger.info(
      { mirror: name },
      `watch ${name}: ${target.idx}/${target.project} changed upstream; syncing it`,
    );
    await this.#options.requestSync(name, target.project);
  }
}
