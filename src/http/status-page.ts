// The status page `/`: server-rendered, readable without JavaScript. One row per mirror with its
// state, last successful sync, published size and upstream.
import type { AppContext } from "../app-context.js";
import { formatBytes } from "../config/duration.js";
import { escapeHtml } from "./simple-pages.js";

export interface MirrorSummary {
  name: string;
  type: string;
  mode: string;
  state: string;
  upstream: string;
  indexes: readonly string[];
  lastSuccessAt: number | null;
  lastAttemptAt: number | null;
  lastError: string | null;
  fileCount: number;
  totalSize: number;
}

export function summarizeMirrors(app: AppContext): MirrorSummary[] {
  return app.mirrors().map(({ config }) => {
    const row = app.state.getMirror(config.name);
    const snapshots = app.state.currentSnapshots(config.name);
    return {
      name: config.name,
      type: config.type,
      mode: config.mode,
      state: config.disabled ? "disabled" : config.paused || row.paused ? "paused" : row.state,
      upstream: config.upstream,
      indexes: config.indexes,
      lastSuccessAt: row.lastSuccessAt,
      lastAttemptAt: row.lastAttemptAt,
      lastError: row.lastError,
      fileCount: snapshots.reduce((sum, s) => sum + s.fileCount, 0),
      totalSize: snapshots.reduce((sum, s) => sum + s.totalSize, 0),
    };
  });
}

function when(ms: number | null): string {
  return ms === null
    ? "never"
    : new Date(ms)
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC");
}

export function renderStatusPage(app: AppContext): string {
  const rows = summarizeMirrors(app)
    .map(
      (m) => `<tr>
  <td><a href="/${encodeURIComponent(m.name)}/">${escapeHtml(m.name)}</a></td>
  <td><span class="state state-${escapeHtml(m.state)}">${escapeHtml(m.state)}</span></td>
  <td>${escapeHtml(m.mode)}</td>
  <td>${when(m.lastSuccessAt)}</td>
  <td>${m.fileCount} files, ${formatBytes(m.totalSize)}</td>
  <td>${escapeHtml(m.upstream)} (${m.indexes.map(escapeHtml).join(", ")})</td>
</tr>`,
    )
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>freshmirror</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }
.state { padding: .1rem .4rem; border-radius: .3rem; background: #eee; }
.state-success { background: #d4f7d4; } .state-failed { background: #f9d0d0; } .state-syncing { background: #d6e8ff; }
</style>
</head>
<body>
<h1>freshmirror</h1>
<table>
<thead><tr><th>Mirror</th><th>State</th><th>Mode</th><th>Last success</th><th>Size</th><th>Upstream</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}
