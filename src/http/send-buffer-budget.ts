// The bytes of large send buffers all file responses together may hold. A response starts with
// small buffers, which bound what a client that never reads can pin; one whose client has taken
// enough bytes to show it reads moves to large buffers while this budget has room, because the
// per-chunk cost of small ones (a thread-pool read and a socket write each) caps one fast client
// well below what the disk and the socket can do (1 GiB to one client on loopback: ~1.0× nginx
// with 4 × 128 KiB, ~1.3× with 2 × 1 MiB).

export class SendBufferBudget {
  readonly maxBytes: number;
  #taken = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes held by responses now. */
  get taken(): number {
    return this.#taken;
  }

  /** Takes `bytes` if the budget has room for them. */
  tryTake(bytes: number): boolean {
    if (this.#taken + bytes > this.maxBytes) return false;
    this.#taken += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#taken = Math.max(0, this.#taken - bytes);
  }
}
