// Bounds the file responses (wheels, layers) being sent at once. Each one holds a socket, a file
// handle and its send buffers (see file-response.ts), and a client that never reads holds them until send_timeout;
// beyond the bound a request gets 503 with Retry-After (RFC 9110 §10.2.3), which pip and most
// download tools retry, instead of the server slowly running out of memory or descriptors.
import type { ServerResponse } from "node:http";
import { TooManyFileResponsesError } from "../errors.js";
import { SendBufferBudget } from "./send-buffer-budget.js";

/**
 * Large send buffers all responses together may hold: 32 responses at 2 × 1 MiB. With it, 512
 * stalled responses pin at most 512 × 512 KiB + 64 MiB = 320 MiB of buffers.
 */
export const LARGE_SEND_BUFFER_BYTES = 64 * 1024 * 1024;

/** Seconds a refused client is asked to wait: long enough for slots to free, short for a retry. */
export const BUSY_RETRY_AFTER_SECONDS = 5;

export class FileResponseLimiter {
  readonly limit: number;
  /** The large send buffers the responses share (see send-buffer-budget.ts). */
  readonly sendBuffers: SendBufferBudget;
  /** File responses being sent now. */
  active = 0;
  /** Requests refused with 503 since start. */
  refused = 0;
  readonly #holders = new WeakSet<ServerResponse>();

  constructor(limit: number, largeSendBufferBytes = LARGE_SEND_BUFFER_BYTES) {
    this.limit = limit;
    this.sendBuffers = new SendBufferBudget(largeSendBufferBytes);
  }

  /**
   * Takes a slot for this response until it closes (finished, failed or abandoned); a response
   * that already holds one keeps it. Throws TooManyFileResponsesError when every slot is taken.
   */
  acquire(res: ServerResponse): void {
    if (this.#holders.has(res)) return;
    if (this.active >= this.limit) {
      this.refused++;
      throw new TooManyFileResponsesError(this.limit, BUSY_RETRY_AFTER_SECONDS);
    }
    this.active++;
    this.#holders.add(res);
    res.once("close", () => {
      this.active--;
    });
  }
}
