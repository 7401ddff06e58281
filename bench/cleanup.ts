// Undo steps for what a benchmark starts (servers, nginx, 1 GiB temp files): run in reverse
// order when the benchmark ends, fails, or the run is interrupted (Ctrl-C).
const active = new Set<Cleanup>();

export class Cleanup {
  readonly #steps: (() => unknown)[] = [];

  constructor() {
    active.add(this);
  }

  /** Registers a step; steps run last-registered first. */
  defer(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    active.delete(this);
    while (this.#steps.length > 0) {
      const step = this.#steps.pop() as () => unknown;
      try {
        await step();
      } catch (error) {
        console.error("bench: cleanup step failed:", error);
      }
    }
  }
}

/** Runs every cleanup not yet run (on SIGINT/SIGTERM). */
export async function runAllCleanups(): Promise<void> {
  for (const cleanup of [...active].reverse()) await cleanup.run();
}
