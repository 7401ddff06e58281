// Upstream failures met while serving on demand, per mirror: counted for /metrics and status.
// One instance, created at the composition root and handed to what records and what reads.
import { describeError } from "../errors.js";

export interface UpstreamFailure {
  count: number;
  last: string;
  at: number;
}

export class UpstreamFailures {
  readonly #byMirror = new Map<string, UpstreamFailure>();

  record(mirror: string, error: unknown, now = Date.now()): void {
    const entry = this.#byMirror.get(mirror) ?? { count: 0, last: "", at: 0 };
    entry.count++;
    entry.last = describeError(error);
    entry.at = now;
    this.#byMirror.set(mirror, entry);
  }

  /** Per mirror, for the metrics renderer. */
  get byMirror(): ReadonlyMap<string, Readonly<UpstreamFailure>> {
    return this.#byMirror;
  }
}
