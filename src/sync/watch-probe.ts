// The ecosystem half of `watch:` (the generic loop is watcher.ts): which pages to poll, where a
// page's state starts after a restart, and one conditional poll of one page. A kind that can
// watch gives its mirrors one of these.

/** Validators of the last answer seen for a page, kept by the watcher between polls. */
export interface PageState {
  etag: string | undefined;
  lastModified: string | undefined;
  /** Upstream's change counter (PyPI's last serial), when it has one. */
  serial: number | undefined;
  /** Upstream's generation time (download.pytorch.org's TIMESTAMP), when it has one. */
  timestamp: number | undefined;
}

export interface WatchTarget {
  idx: string;
  project: string;
}

export type ProbeResult =
  | { notModified: true; bytes: number }
  | { notModified: false; bytes: number; state: PageState };

export interface WatchProbe {
  /** The pages to poll for the mirror's watched subjects. */
  targets(): Promise<WatchTarget[]>;
  /** What the last published snapshot recorded of a page: the starting point after a restart. */
  seed(target: WatchTarget): Promise<PageState>;
  /** One conditional poll (no retries: the next cycle is the retry). */
  poll(target: WatchTarget, known: PageState): Promise<ProbeResult>;
}
