// What the HTTP server and its API read and call: the parts of the composition root (src/app/)
// it uses, named here so the server depends on this shape rather than on the whole App.
import type { Config } from "../config/schema.js";
import type { MirrorRuntime } from "../ecosystem/mirror-kind.js";
import type { EventBus } from "../events/event-bus.js";
import type { SubjectMatcher } from "../events/subject-matcher.js";
import type { Logger } from "../logging/logger.js";
import type { LiveProgress } from "../sync/live-progress.js";
import type { ScheduledSyncDeps } from "../sync/scheduled-sync.js";
import type { UpstreamFailures } from "../upstream/upstream-failures.js";
import type { FileResponseLimiter } from "./file-response-limiter.js";

/** The mirror as the server sees it: its config, routes and help section (plus what syncs use). */
export type ServedMirror = MirrorRuntime<Config["mirrors"][number]>;

export interface ServedApp extends ScheduledSyncDeps {
  readonly config: Config;
  readonly events: EventBus;
  readonly logger: Logger;
  /** Where run logs live: the API serves files below it only. */
  readonly logsDir: string;
  /** Upstream failures met while serving on demand (metrics). */
  readonly upstreamFailures: UpstreamFailures;
  /** The file bodies being sent and those refused (metrics). */
  readonly fileResponses: Pick<FileResponseLimiter, "active" | "refused" | "limit">;
  /** The running syncs' figures (API, status page). */
  readonly progress: LiveProgress;
  /** How events of a mirror name their subjects (SSE filters). */
  readonly matcherFor: (mirror: string | undefined) => SubjectMatcher;
  mirror(name: string): ServedMirror;
  mirrors(): ServedMirror[];
}
