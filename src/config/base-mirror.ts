// What every mirror has whatever its ecosystem: where upstream is, how it is reached, when it
// syncs, how lag is judged. Ecosystem configs (src/pypi/config-schema.ts, later OCI) extend it;
// the generic parts (scheduler, watcher, status, client) read only these fields.
import type { UpstreamCredentials } from "./upstream-credentials.js";

export type Schedule = { kind: "cron"; expression: string } | { kind: "interval"; everyMs: number };

export interface MirrorConfigBase {
  readonly name: string;
  /** The config `type`: which MirrorKind runs it. */
  readonly type: string;
  /** "mirror" syncs on a schedule; "proxy" only fetches on demand. */
  readonly mode: "mirror" | "proxy";
  /** The upstream URL, never with credentials (they are in `upstreamAuth`). */
  readonly upstream: string;
  /** Basic credentials for the upstream's origin; shown as "***" in JSON. */
  readonly upstreamAuth: UpstreamCredentials | undefined;
  /** Hosts whose files this mirror may fetch: the upstream's own host plus `allow_hosts`. */
  readonly allowedHosts: readonly string[];
  readonly schedule: Schedule;
  readonly watchMs: number | undefined;
  readonly concurrency: number;
  readonly retries: number;
  readonly retryBackoffMs: number;
  readonly upstreamTimeoutMs: number;
  readonly fillTimeoutMs: number;
  readonly maxFileSize: number;
  readonly abandonGraceMs: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly disabled: boolean;
  readonly paused: boolean;
  readonly description: string | undefined;
  readonly jitterMs: number;
  /** Retries of a failed scheduled sync: how many, and the first delay (doubling after). */
  readonly syncRetry: { readonly count: number; readonly backoffMs: number };
  readonly catchUp: boolean;
  readonly lagWarnMs: number;
  readonly lagCriticalMs: number;
}
