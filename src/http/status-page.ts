// The status page `/` and the per-mirror page `/status/<mirror>`: server-rendered, readable
// without JavaScript. `/` has one row per mirror (state badge with a running sync's progress,
// last success as "2026-11-25 22:59 UTC" and "3 h ago", next sync, lag coloured past its
// thresholds, size, upstream); a small inline script follows the SSE stream /api/v1/events:
// sync.progress redraws the running sync's bar, sync.* re-reads the rows from /api/v1/mirrors.
// Hidden tabs close the stream and make no request. The mirror page adds its run history and
// two SVG charts.
import { formatBytes, formatDuration } from "../config/duration.js";
import type { SyncProgressEvent } from "../events/event-bus.js";
import type { RunRow } from "../store/state-store.js";
import { describeSchedule } from "../sync/cron-schedule.js";
import type { LagPoint, MirrorStatus } from "../sync/mirror-status.js";
import type { GcView } from "../sync/scheduled-gc.js";
import { escapeHtml } from "./html-escape.js";
import { renderPage } from "./page-layout.js";
import { renderLagChart, renderRunsChart } from "./svg-chart.js";
import { formatPageTime, formatRelative, PAGE_TIME_SCRIPT } from "./time-format.js";

/** A full re-read of the rows when no event came (the stream itself carries every change). */
export const REFRESH_MS = 300_000;

/** "12/40 files · 1.20 MiB of ~4.50 MiB · 512 KiB/s · ETA 7 s"; the page's script writes the same. */
export function describeLiveProgress(p: SyncProgressEvent): string {
  if (p.phase === "index") return `reading index pages ${p.filesDone}/${p.filesTotal}`;
  if (p.phase === "publish") return `publishing ${p.filesTotal} files`;
  return `${p.filesDone}/${p.filesTotal} files · ${formatBytes(p.bytesDone)} of ${p.bytesTotalExact ? "" : "~"}${formatBytes(p.bytesTotal)} · ${formatBytes(p.rate)}/s · ETA ${p.etaMs === null ? "?" : formatDuration(p.etaMs, "s")}`;
}

function progressCell(p: SyncProgressEvent | undefined): string {
  if (p === undefined || p.done) return "";
  return `<div class="progress"><progress max="1" value="${p.fraction.toFixed(4)}"></progress> <small class="p-text">${escapeHtml(describeLiveProgress(p))}</small></div>`;
}

function timeCell(ms: number | null, now: number, none: string): string {
  if (ms === null) return `<span class="muted">${escapeHtml(none)}</span>`;
  return `<time datetime="${new Date(ms).toISOString()}" data-ts="${ms}">${escapeHtml(formatPageTime(ms))}</time> <span class="ago">${escapeHtml(formatRelative(ms, now))}</span>`;
}

function badge(state: string, title?: string | null): string {
  return `<span class="badge state-${escapeHtml(state)}"${title ? ` title="${escapeHtml(title)}"` : ""}>${escapeHtml(state)}</span>`;
}

function nextCell(m: MirrorStatus, now: number): string {
  if (m.mode === "proxy") return `<span class="muted">on demand</span>`;
  if (m.state === "disabled") return `<span class="muted">disabled</span>`;
  if (m.state === "paused") return `<span class="muted">paused</span>`;
  if (m.state === "syncing") return `<span class="muted">syncing now</span>`;
  return timeCell(m.nextRunAt, now, "not scheduled");
}

function lagCell(m: MirrorStatus, now: number): string {
  if (m.mode === "proxy") return `<span class="muted">n/a (proxy)</span>`;
  if (m.lagLevel === "unknown") {
    // No figure while upstream cannot be read: a green "0 s" would be a guess.
    const checked = m.upstreamCheckedAt === null ? "never" : formatPageTime(m.upstreamCheckedAt);
    const title = `last successful look at upstream: ${checked}${m.upstreamError ? `; ${m.upstreamError}` : ""}`;
    return `<span class="lag lag-unknown" title="${escapeHtml(title)}">unknown (upstream unreachable since ${timeCell(m.upstreamFailingSince, now, "?")})</span>`;
  }
  if (m.lagMs === null || m.lagLevel === null) return `<span class="muted">never synced</span>`;
  return `<span class="lag lag-${m.lagLevel}" title="warning after ${escapeHtml(formatDuration(m.lagWarnMs, "s"))}, critical after ${escapeHtml(formatDuration(m.lagCriticalMs, "s"))}">${escapeHtml(formatDuration(m.lagMs, "s"))}</span>`;
}

function sizeCell(m: MirrorStatus): string {
  return `${escapeHtml(formatBytes(m.totalSize))} <span class="muted">· ${m.fileCount} files</span>`;
}

function upstreamCell(m: MirrorStatus): string {
  return `<a href="${escapeHtml(m.upstream)}" rel="noreferrer">${escapeHtml(m.upstream.replace(/^https?:\/\//, ""))}</a> <span class="muted">${m.indexes.map(escapeHtml).join(", ")}</span>`;
}

function mirrorRow(m: MirrorStatus, now: number, progress: SyncProgressEvent | undefined): string {
  const name = encodeURIComponent(m.name);
  return `<tr data-mirror="${escapeHtml(m.name)}" data-state="${escapeHtml(m.state)}">
<td class="name"><a href="/${name}/"><strong>${escapeHtml(m.name)}</strong></a>${m.description ? `<br><small>${escapeHtml(m.description)}</small>` : ""}<br><small><a href="/status/${name}">details</a> · <a href="/help/${name}">help</a></small></td>
<td data-label="State" class="c-state">${m.mode === "proxy" && m.state === "none" ? badge("fetched on demand", "pages and files are fetched from upstream when a client asks") : badge(m.state, m.lastError)}${progressCell(progress)}</td>
<td data-label="Last success" class="c-success">${timeCell(m.lastSuccessAt, now, m.mode === "proxy" ? "—" : "never")}</td>
<td data-label="Next sync" class="c-next">${nextCell(m, now)}</td>
<td data-label="Lag" class="c-lag">${lagCell(m, now)}</td>
<td data-label="Size" class="c-size">${sizeCell(m)}</td>
<td data-label="Upstream" class="c-upstream">${upstreamCell(m)}</td>
</tr>`;
}

// Runs in the browser: follows /api/v1/events while the tab is visible. sync.progress redraws
// the running sync's bar and figures in its row; sync.started/succeeded/failed re-read the rows
// from /api/v1/mirrors. A hidden tab closes the stream and makes no request; a visible one
// re-reads the rows and reconnects. Times are written as the server writes them (UTC).
const CLIENT_SCRIPT = `(() => {
  "use strict";
  ${PAGE_TIME_SCRIPT}
  const REFRESH_MS = ${REFRESH_MS};
  const lag = (ms) => { const s = Math.round(ms / 1000); if (s < 60) return s + " s"; const m = Math.floor(s / 60); if (m < 60) return m + " min " + (s % 60) + " s"; const h = Math.floor(m / 60); if (h < 48) return h + " h " + (m % 60) + " min"; return Math.floor(h / 24) + " d " + (h % 24) + " h"; };
  const bytes = (n) => { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let v = n, i = 0; while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; } return i === 0 ? n + " B" : v.toFixed(v < 10 ? 2 : 1) + " " + u[i]; };
  const esc = (t) => String(t).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  const time = (iso, none) => { if (!iso) return '<span class="muted">' + esc(none) + "</span>"; const ts = Date.parse(iso); return '<time datetime="' + esc(iso) + '" data-ts="' + ts + '"></time> <span class="ago"></span>'; };
  const row = (name) => document.querySelector('tr[data-mirror="' + CSS.escape(name) + '"]');
  const describe = (p) => p.phase === "index" ? "reading index pages " + p.filesDone + "/" + p.filesTotal : p.phase === "publish" ? "publishing " + p.filesTotal + " files" : p.filesDone + "/" + p.filesTotal + " files \u00b7 " + bytes(p.bytesDone) + " of " + (p.bytesTotalExact ? "" : "~") + bytes(p.bytesTotal) + " \u00b7 " + bytes(p.rate) + "/s \u00b7 ETA " + (p.etaMs === null ? "?" : lag(p.etaMs));
  const progressHtml = (p) => !p || p.done ? "" : '<div class="progress"><progress max="1" value="' + p.fraction.toFixed(4) + '"></progress> <small class="p-text">' + esc(describe(p)) + "</small></div>";
  const progress = new Map();
  const fromApi = (mirror, p) => ({ mirror, phase: p.phase, filesDone: p.files_done, filesTotal: p.files_total, bytesDone: p.bytes_done, bytesTotal: p.bytes_total, bytesTotalExact: p.bytes_total_exact, rate: p.rate_bytes_per_second, etaMs: p.eta_seconds === null ? null : p.eta_seconds * 1000, fraction: p.fraction, done: false });
  function showProgress(p) {
    const tr = row(p.mirror);
    if (!tr) return;
    if (p.done) progress.delete(p.mirror); else progress.set(p.mirror, p);
    const cell = tr.querySelector(".c-state");
    if (!cell) return;
    const old = cell.querySelector(".progress");
    if (old) old.remove();
    if (!p.done) {
      tr.dataset.state = "syncing";
      const badge = cell.querySelector(".badge");
      if (badge && badge.textContent !== "syncing") { badge.className = "badge state-syncing"; badge.textContent = "syncing"; badge.removeAttribute("title"); }
      cell.insertAdjacentHTML("beforeend", progressHtml(p));
    }
  }
  function update(m) {
    const tr = row(m.name);
    if (!tr) return;
    tr.dataset.state = m.state;
    const set = (cls, html) => { const cell = tr.querySelector("." + cls); if (cell) cell.innerHTML = html; };
    if (m.progress) progress.set(m.name, fromApi(m.name, m.progress));
    if (m.mode === "proxy" && m.state === "none") set("c-state", '<span class="badge">fetched on demand</span>');
    else set("c-state", '<span class="badge state-' + esc(m.state) + '"' + (m.last_error ? ' title="' + esc(m.last_error) + '"' : "") + ">" + esc(m.state) + "</span>" + (m.state === "syncing" && progress.has(m.name) ? progressHtml(progress.get(m.name)) : ""));
    set("c-success", time(m.last_success_at, m.mode === "proxy" ? "\\u2014" : "never"));
    set("c-next", m.mode === "proxy" ? '<span class="muted">on demand</span>' : m.state === "disabled" || m.state === "paused" ? '<span class="muted">' + m.state + "</span>" : m.state === "syncing" ? '<span class="muted">syncing now</span>' : time(m.next_run_at, "not scheduled"));
    set("c-lag", m.mode === "proxy" ? '<span class="muted">n/a (proxy)</span>' : m.lag_level === "unknown" ? '<span class="lag lag-unknown" title="' + esc(m.upstream_error || "") + '">unknown (upstream unreachable since ' + time(m.lag_unknown_since, "?") + ")</span>" : m.lag_seconds === null ? '<span class="muted">never synced</span>' : '<span class="lag lag-' + esc(m.lag_level) + '">' + esc(lag(m.lag_seconds * 1000)) + "</span>");
    set("c-size", esc(bytes(m.size_bytes)) + ' <span class="muted">\\u00b7 ' + m.file_count + " files</span>");
  }
  let timer;
  async function refresh() {
    if (document.hidden) return;
    try {
      const res = await fetch("/api/v1/mirrors", { headers: { accept: "application/json" }, cache: "no-store" });
      if (!res.ok) return;
      const data = await res.json();
      for (const m of data.mirrors) {
        if (m.progress === null && m.state !== "syncing") progress.delete(m.name);
        update(m);
      }
      fmLocalize(document);
      const stamp = document.getElementById("refreshed");
      if (stamp) stamp.textContent = "updated " + fmTime(Date.now());
    } catch (e) { /* the next event or refresh tries again */ }
  }
  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(() => refresh().then(schedule), REFRESH_MS);
  }
  let stream;
  function connect() {
    if (stream || document.hidden || typeof EventSource === "undefined") return;
    stream = new EventSource("/api/v1/events");
    stream.addEventListener("sync.progress", (e) => showProgress(JSON.parse(e.data)));
    for (const type of ["sync.started", "sync.succeeded", "sync.failed"]) stream.addEventListener(type, () => refresh());
    stream.addEventListener("open", () => { const live = document.getElementById("live"); if (live) live.textContent = "live"; });
    stream.addEventListener("error", () => { const live = document.getElementById("live"); if (live) live.textContent = "reconnecting"; });
  }
  function disconnect() { if (stream) { stream.close(); stream = undefined; } }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { clearTimeout(timer); disconnect(); }
    else { connect(); refresh().then(schedule); }
  });
  window.freshmirror = { refresh, REFRESH_MS, showProgress, connected: () => stream !== undefined && stream.readyState === 1 };
  connect();
  schedule();
})();`;

export interface StatusPageOptions {
  siteName: string;
  now: number;
  /** The running sync of a mirror (this process's), shown under its state badge. */
  progress?: (mirror: string) => SyncProgressEvent | undefined;
  /** `serve`'s scheduled gc, shown under the table; absent when gc_schedule is off. */
  gc?: GcView | undefined;
}

/** One line on old blobs: when gc runs, what it last did, when it runs next. */
function gcLine(gc: GcView | undefined, now: number): string {
  if (gc === undefined)
    return `<p class="muted" id="gc">Unreferenced blobs are removed only by <code>freshmirror gc</code> (gc_schedule: off).</p>`;
  const { figures } = gc;
  const last =
    figures.lastRunAt === null
      ? "not run since the server started"
      : `last run ${timeCell(figures.lastRunAt, now, "")}, ${figures.removedBlobs} blob(s) and ${escapeHtml(formatBytes(figures.freedBytes))} freed since start${figures.failedRuns > 0 ? `, <span class="error">${figures.failedRuns} failed run(s)</span>` : ""}`;
  return `<p class="muted" id="gc">Unreferenced blobs (unused for ${escapeHtml(formatDuration(gc.graceMs, "s"))}) are removed ${escapeHtml(describeSchedule(gc.schedule))}: ${last}; next ${timeCell(figures.nextRunAt, now, "not scheduled")}.</p>`;
}

export function renderStatusPage(statuses: readonly MirrorStatus[], options: StatusPageOptions): string {
  const { now } = options;
  const counts = new Map<string, number>();
  for (const m of statuses) counts.set(m.state, (counts.get(m.state) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${escapeHtml(state)}`).join(", ");
  const rows = statuses.map((m) => mirrorRow(m, now, options.progress?.(m.name))).join("\n");
  const body = `<h1>Mirrors</h1>
<p class="muted">${statuses.length} mirror${statuses.length === 1 ? "" : "s"}${summary ? `: ${summary}` : ""} · <span id="refreshed">as of ${escapeHtml(formatPageTime(now))}</span> · <span id="live" class="muted">static</span></p>
<table class="cards" id="mirrors">
<thead><tr><th>Mirror</th><th>State</th><th>Last success</th><th>Next sync</th><th>Lag</th><th>Size</th><th>Upstream</th></tr></thead>
<tbody>
${rows || `<tr><td colspan="7" class="muted">No mirrors are configured.</td></tr>`}
</tbody>
</table>
${gcLine(options.gc, now)}`;
  return renderPage({ title: options.siteName, siteName: options.siteName, body, script: CLIENT_SCRIPT });
}

export interface MirrorPageOptions {
  siteName: string;
  now: number;
  /** Newest first. */
  runs: readonly RunRow[];
  /** For the "older runs" link; undefined when these are the oldest. */
  olderBefore: number | undefined;
  lag: readonly LagPoint[];
  /** The newest runs (newest first) for the chart, independent of paging. */
  chartRuns: readonly RunRow[];
  /** The running sync (this process's), if any. */
  progress?: SyncProgressEvent | undefined;
}

// The mirror page follows its own mirror's events: sync.progress redraws the bar beside the
// state; the end of a run reloads the page (its history and charts change).
function mirrorPageScript(name: string): string {
  return `(() => {
  "use strict";
  ${PAGE_TIME_SCRIPT}
  const bytes = (n) => { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let v = n, i = 0; while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; } return i === 0 ? n + " B" : v.toFixed(v < 10 ? 2 : 1) + " " + u[i]; };
  const lag = (ms) => { const s = Math.round(ms / 1000); if (s < 60) return s + " s"; const m = Math.floor(s / 60); if (m < 60) return m + " min " + (s % 60) + " s"; const h = Math.floor(m / 60); return h + " h " + (m % 60) + " min"; };
  const describe = (p) => p.phase === "index" ? "reading index pages " + p.filesDone + "/" + p.filesTotal : p.phase === "publish" ? "publishing " + p.filesTotal + " files" : p.filesDone + "/" + p.filesTotal + " files \u00b7 " + bytes(p.bytesDone) + " of " + (p.bytesTotalExact ? "" : "~") + bytes(p.bytesTotal) + " \u00b7 " + bytes(p.rate) + "/s \u00b7 ETA " + (p.etaMs === null ? "?" : lag(p.etaMs));
  if (typeof EventSource === "undefined") return;
  const stream = new EventSource("/api/v1/events?mirror=" + encodeURIComponent(${JSON.stringify(name)}));
  stream.addEventListener("sync.progress", (e) => {
    const p = JSON.parse(e.data);
    const box = document.getElementById("live-progress");
    if (!box || p.done) return;
    box.innerHTML = '<div class="progress"><progress max="1"></progress> <small class="p-text"></small></div>';
    box.querySelector("progress").value = p.fraction;
    box.querySelector(".p-text").textContent = describe(p);
  });
  for (const type of ["sync.started", "sync.succeeded", "sync.failed"]) stream.addEventListener(type, () => { stream.close(); location.reload(); });
  addEventListener("pagehide", () => stream.close());
})();`;
}

function runRow(run: RunRow, now: number): string {
  const duration = (run.endedAt ?? now) - run.startedAt;
  const log =
    run.logPath === null
      ? ""
      : `<a href="/api/v1/mirrors/${encodeURIComponent(run.mirror)}/runs/${run.id}/log">log</a>`;
  return `<tr data-run="${run.id}">
<td data-label="Run" class="num">#${run.id}</td>
<td data-label="Started">${timeCell(run.startedAt, now, "")}</td>
<td data-label="Duration" class="num">${escapeHtml(formatDuration(duration, "s"))}${run.outcome === "running" ? " so far" : ""}</td>
<td data-label="Outcome">${badge(run.outcome === "running" ? "running" : run.outcome)}${run.project ? ` <small>${escapeHtml(run.project)}</small>` : ""}</td>
<td data-label="Files" class="num">+${run.filesAdded} / −${run.filesRemoved} <span class="muted">(${run.filesTotal})</span></td>
<td data-label="Added" class="num">${escapeHtml(formatBytes(run.bytesAdded))}</td>
<td data-label="Error">${run.error ? `<span class="error">${escapeHtml(run.error.split("\n")[0] ?? "")}</span>` : ""}${run.warnings.length ? ` <small>${run.warnings.length} warning(s)</small>` : ""}</td>
<td data-label="Log">${log}</td>
</tr>`;
}

export function renderMirrorPage(m: MirrorStatus, options: MirrorPageOptions): string {
  const { now } = options;
  const name = encodeURIComponent(m.name);
  const facts: [string, string][] = [
    [
      "State",
      `${badge(m.state)}${m.lastError ? ` <span class="error">${escapeHtml(m.lastError)}</span>` : ""}<div id="live-progress">${progressCell(options.progress)}</div>`,
    ],
    ["Mode", m.mode === "proxy" ? "proxy (files are fetched on demand)" : "mirror (synced on a schedule)"],
    ["Schedule", m.schedule ? escapeHtml(m.schedule) : `<span class="muted">none</span>`],
    ["Last success", timeCell(m.lastSuccessAt, now, "never")],
    ["Last attempt", timeCell(m.lastAttemptAt, now, "never")],
    ["Next sync", nextCell(m, now)],
    ["Lag", lagCell(m, now)],
    [
      "Published",
      `${sizeCell(m)}${m.publishedAt ? ` <span class="muted">at</span> ${timeCell(m.publishedAt, now, "")}` : ""}`,
    ],
    ["Upstream", upstreamCell(m)],
    [
      "Use it",
      `<a href="/${name}/">/${escapeHtml(m.name)}/</a> · <a href="/help/${name}">set-up help</a> · <a href="/api/v1/mirrors/${name}">JSON</a>`,
    ],
  ];
  const lagSection =
    m.mode === "proxy"
      ? `<p class="muted">A proxy mirror fetches on demand: it has no lag figure.</p>`
      : `${renderLagChart(options.lag, m.lagWarnMs, m.lagCriticalMs)}
<p class="muted"><small>${
          m.lagBasis === "watch"
            ? "Lag is how long the oldest upstream change the watcher saw has waited to be published (points: each change, published − first seen)."
            : "Lag is the time since the start of the last successful full sync: an upper bound of how long upstream may have had something the mirror lacks (set <code>watch:</code> to measure it exactly)."
        }</small></p>`;
  const runs = options.runs.map((r) => runRow(r, now)).join("\n");
  const body = `<h1>${escapeHtml(m.name)} ${badge(m.state)}</h1>
${m.description ? `<p>${escapeHtml(m.description)}</p>` : ""}
<dl class="facts">
${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("\n")}
</dl>
<h2>Last ${Math.min(30, options.chartRuns.length)} runs</h2>
${renderRunsChart(options.chartRuns, now, 30)}
<p class="muted"><small>Bar height is the run's duration; <span style="color:#2f9e44">green</span> succeeded, <span style="color:#d9480f">orange</span> failed, <span style="color:#1c7ed6">blue</span> is running.</small></p>
<h2>Lag over time</h2>
${lagSection}
<h2>Run history</h2>
<table class="cards" id="runs">
<thead><tr><th class="num">Run</th><th>Started</th><th class="num">Duration</th><th>Outcome</th><th class="num">Files</th><th class="num">Added</th><th>Error</th><th>Log</th></tr></thead>
<tbody>
${runs || `<tr><td colspan="8" class="muted">No runs yet.</td></tr>`}
</tbody>
</table>
${options.olderBefore === undefined ? "" : `<p><a href="/status/${name}?before=${options.olderBefore}">Older runs →</a></p>`}`;
  return renderPage({
    title: `${m.name} · ${options.siteName}`,
    siteName: options.siteName,
    body,
    script: mirrorPageScript(m.name),
  });
}
