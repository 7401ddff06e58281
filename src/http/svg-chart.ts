// Server-rendered SVG charts for the mirror detail page: the last runs (bar height = duration,
// colour = outcome) and lag over time. Plain SVG with inline colours and <title> tooltips: no
// script, no external asset, readable in any browser and when saved on its own.

import { formatDuration } from "../config/duration.js";
import type { RunRow } from "../store/state-store.js";
import type { LagPoint } from "../sync/mirror-status.js";
import { escapeHtml } from "./html-escape.js";
import { formatPageTime, formatSpan } from "./time-format.js";

export const OUTCOME_COLOURS: Record<RunRow["outcome"], string> = {
  success: "#2f9e44",
  failed: "#d9480f",
  running: "#1c7ed6",
};

const WIDTH = 640;
const HEIGHT = 180;
const PAD = { left: 52, right: 14, top: 16, bottom: 28 };
const AXIS = `stroke="#adb5bd" stroke-width="1"`;
const LABEL = `font-family="system-ui, sans-serif" font-size="11" fill="#495057"`;

function shortTime(ms: number): string {
  return formatPageTime(ms).slice(5, 16); // "03-01 08:00" (UTC, as the pages)
}

function frame(label: string, body: string, extra = ""): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="${escapeHtml(label)}"${extra}>
<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>
${body}
</svg>`;
}

function empty(label: string, text: string): string {
  return frame(
    label,
    `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" ${LABEL}>${escapeHtml(text)}</text>`,
    ` data-bars="0"`,
  );
}

/** Bars for up to `limit` runs (newest given first, drawn oldest on the left). */
export function renderRunsChart(runsNewestFirst: readonly RunRow[], now: number, limit = 30): string {
  const label = "Duration and outcome of the last runs";
  const runs = runsNewestFirst.slice(0, limit).reverse();
  if (runs.length === 0) return empty(label, "no runs yet");
  const duration = (r: RunRow) => Math.max(0, (r.endedAt ?? now) - r.startedAt);
  const max = Math.max(1000, ...runs.map(duration));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(runs.length, 10);
  const barW = Math.max(2, slot * 0.7);
  const bars = runs
    .map((run, i) => {
      const h = Math.max(2, (duration(run) / max) * plotH);
      const x = PAD.left + i * slot + (slot - barW) / 2;
      const y = PAD.top + plotH - h;
      const tip = `run #${run.id} ${run.outcome}${run.project ? ` (${run.project})` : ""}, ${formatPageTime(run.startedAt)}, ${formatDuration(duration(run), "s")}${run.outcome === "running" ? " so far" : ""}, +${run.filesAdded} files${run.error ? `: ${run.error.split("\n")[0]}` : ""}`;
      return `<rect class="bar bar-${run.outcome}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${OUTCOME_COLOURS[run.outcome]}" rx="1"><title>${escapeHtml(tip)}</title></rect>`;
    })
    .join("\n");
  const first = runs[0] as RunRow;
  const last = runs[runs.length - 1] as RunRow;
  const axes = `<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}" ${AXIS}/>
<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" ${AXIS}/>
<text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end" ${LABEL}>${escapeHtml(formatSpan(max))}</text>
<text x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end" ${LABEL}>0</text>
<text x="${PAD.left}" y="${HEIGHT - 8}" ${LABEL}>${escapeHtml(shortTime(first.startedAt))}</text>
<text x="${WIDTH - PAD.right}" y="${HEIGHT - 8}" text-anchor="end" ${LABEL}>${escapeHtml(shortTime(last.startedAt))}</text>`;
  return frame(label, `${axes}\n${bars}`, ` data-bars="${runs.length}"`);
}

/** Lag over time as a line, with the warning and critical thresholds when they are in range. */
export function renderLagChart(points: readonly LagPoint[], warnMs: number, criticalMs: number): string {
  const label = "Lag over time";
  if (points.length === 0) return empty(label, "no successful sync yet");
  const t0 = Math.min(...points.map((p) => p.at));
  const t1 = Math.max(...points.map((p) => p.at), t0 + 1);
  const maxLag = Math.max(1000, ...points.map((p) => p.lagMs));
  const top = maxLag * 1.1;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (at: number) => PAD.left + ((at - t0) / (t1 - t0)) * plotW;
  const y = (lag: number) => PAD.top + plotH - (Math.min(lag, top) / top) * plotH;
  const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.at).toFixed(1)},${y(p.lagMs).toFixed(1)}`);
  const thresholds = [
    { ms: warnMs, colour: "#f08c00", name: "warning" },
    { ms: criticalMs, colour: "#e03131", name: "critical" },
  ]
    .filter((t) => t.ms <= top)
    .map(
      (t) =>
        `<line class="threshold" x1="${PAD.left}" y1="${y(t.ms).toFixed(1)}" x2="${WIDTH - PAD.right}" y2="${y(t.ms).toFixed(1)}" stroke="${t.colour}" stroke-dasharray="4 3"><title>${t.name}: ${escapeHtml(formatDuration(t.ms, "s"))}</title></line>`,
    )
    .join("\n");
  const dots = points
    .map(
      (p) =>
        `<circle cx="${x(p.at).toFixed(1)}" cy="${y(p.lagMs).toFixed(1)}" r="2.5" fill="#1c7ed6"><title>${escapeHtml(`${formatPageTime(p.at)}: ${formatDuration(p.lagMs, "s")}`)}</title></circle>`,
    )
    .join("\n");
  const axes = `<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}" ${AXIS}/>
<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" ${AXIS}/>
<text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end" ${LABEL}>${escapeHtml(formatSpan(top))}</text>
<text x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end" ${LABEL}>0</text>
<text x="${PAD.left}" y="${HEIGHT - 8}" ${LABEL}>${escapeHtml(shortTime(t0))}</text>
<text x="${WIDTH - PAD.right}" y="${HEIGHT - 8}" text-anchor="end" ${LABEL}>${escapeHtml(shortTime(t1))}</text>`;
  return frame(
    label,
    `${axes}\n${thresholds}\n<path class="lag-line" d="${path.join(" ")}" fill="none" stroke="#1c7ed6" stroke-width="1.5"/>\n${dots}`,
    ` data-points="${points.length}"`,
  );
}
