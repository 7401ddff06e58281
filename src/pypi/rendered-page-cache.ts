// Proxied pages as rendered bytes, keyed by page version, least recently used out first once
// the total passes a byte budget. A page bigger than the whole budget is not kept (it is
// rendered again from the stored body, in the worker, when asked for).
import type { RenderedPage } from "./page-work.js";

export const RENDERED_PAGES_BUDGET = 256 * 1024 * 1024;

function sizeOf(page: RenderedPage): number {
  return page.html.body.byteLength + page.json.body.byteLength;
}

export class RenderedPageCache {
  readonly #entries = new Map<string, RenderedPage>();
  readonly #budget: number;
  #bytes = 0;

  constructor(budget = RENDERED_PAGES_BUDGET) {
    this.#budget = budget;
  }

  get(key: string): RenderedPage | undefined {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, page: RenderedPage): void {
    this.delete(key);
    const size = sizeOf(page);
    if (size > this.#budget) return;
    this.#entries.set(key, page);
    this.#bytes += size;
    for (const [oldest, old] of this.#entries) {
      if (this.#bytes <= this.#budget) break;
      this.#entries.delete(oldest);
      this.#bytes -= sizeOf(old);
    }
  }

  delete(key: string): void {
    const old = this.#entries.get(key);
    if (!old) return;
    this.#entries.delete(key);
    this.#bytes -= sizeOf(old);
  }

  /** Drops every version of one page but `keep`. */
  deleteOtherVersions(prefix: string, keep: string): void {
    for (const key of [...this.#entries.keys()]) {
      if (key.startsWith(prefix) && key !== keep) this.delete(key);
    }
  }

  get bytes(): number {
    return this.#bytes;
  }
}
