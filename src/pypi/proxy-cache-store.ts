// What the pull-through cache keeps as a PyPI page's body (gzipped JSON of this shape), in the
// generic proxy cache repository (src/store/sqlite/sqlite-proxy-cache-repository.ts).
import type { ServedFile } from "./simple-pages.js";

export interface ProxyPageBody {
  displayName: string;
  /** For project pages. */
  files?: ServedFile[];
  /** For the project list: display names. */
  projects?: string[];
}
