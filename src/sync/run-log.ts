// The log of one run: each line time-stamped, credentials masked, kept in memory for the report,
// appended to the run's log file and handed to the CLI's sink.
import { appendFileSync } from "node:fs";
import { redactText } from "../upstream/redact-url.js";

export class RunLog {
  readonly lines: string[] = [];
  readonly #path: string | undefined;
  readonly #sink: ((line: string) => void) | undefined;

  constructor(path: string | undefined, sink: ((line: string) => void) | undefined) {
    this.#path = path;
    this.#sink = sink;
  }

  write(raw: string): void {
    // Lines quote upstream URLs and messages: masked here, whatever wrote them.
    const line = redactText(raw);
    const stamped = `${new Date().toISOString()} ${line}`;
    this.lines.push(stamped);
    this.#sink?.(line);
    if (this.#path) {
      try {
        appendFileSync(this.#path, `${stamped}\n`);
      } catch {
        // A log that cannot be written (disk full) must not fail the run by itself.
      }
    }
  }
}
