// Times as the status page, /jobs and the CLI show them: the server's local time with its UTC
// offset (tunasync's "2006-01-02 15:04:05 -0700"), and "3 h ago" / "in 20 min". Lags and
// durations with two units ("3 h 12 min") are formatDuration (src/config/duration.ts).

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** "2025-03-01 08:00:00 +0800" in the server's local time zone. */
export function formatLocalTime(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/** A short span, rounded to its unit: "45 s", "12 min", "3 h", "5 d". */
export function formatSpan(ms: number): string {
  const seconds = Math.abs(ms) / 1000;
  if (seconds < 59.5) return `${Math.round(seconds)} s`;
  const minutes = seconds / 60;
  if (minutes < 59.5) return `${Math.round(minutes)} min`;
  const hours = minutes / 60;
  if (hours < 47.5) return `${Math.round(hours)} h`;
  return `${Math.round(hours / 24)} d`;
}

/** "3 h ago", "in 20 min", "just now". */
export function formatRelative(ms: number, now: number): string {
  const delta = ms - now;
  if (Math.abs(delta) < 5000) return "just now";
  return delta < 0 ? `${formatSpan(delta)} ago` : `in ${formatSpan(delta)}`;
}

/**
 * How every page shows a time: "2026-11-25 22:59 UTC" (then "3 h ago" beside it). UTC, not the
 * server's or the browser's zone, so two readers (and a screenshot in a bug report) agree; the
 * pages' script (PAGE_TIME_SCRIPT) writes the same text in the browser.
 */
export function formatPageTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/**
 * The browser's twin of formatPageTime and formatRelative (same text), and `localize(root)`,
 * which rewrites every `<time data-ts>` and the "ago" beside it. Defines `fmTime`,
 * `fmRelative` and `fmLocalize` for the page's own script; re-run every 30 s so "ago" moves on.
 */
export const PAGE_TIME_SCRIPT = `const fmPad = (n, w = 2) => String(n).padStart(w, "0");
const fmTime = (ts) => { const d = new Date(ts); return fmPad(d.getUTCFullYear(), 4) + "-" + fmPad(d.getUTCMonth() + 1) + "-" + fmPad(d.getUTCDate()) + " " + fmPad(d.getUTCHours()) + ":" + fmPad(d.getUTCMinutes()) + " UTC"; };
const fmSpan = (ms) => { const s = Math.abs(ms) / 1000; if (s < 59.5) return Math.round(s) + " s"; const m = s / 60; if (m < 59.5) return Math.round(m) + " min"; const h = m / 60; if (h < 47.5) return Math.round(h) + " h"; return Math.round(h / 24) + " d"; };
const fmRelative = (ts, now) => { const d = ts - now; if (Math.abs(d) < 5000) return "just now"; return d < 0 ? fmSpan(d) + " ago" : "in " + fmSpan(d); };
function fmLocalize(root) {
  const now = Date.now();
  for (const t of root.querySelectorAll("time[data-ts]")) {
    const ts = Number(t.dataset.ts);
    t.textContent = fmTime(ts);
    t.title = new Date(ts).toISOString();
    const ago = t.nextElementSibling;
    if (ago && ago.classList.contains("ago")) ago.textContent = fmRelative(ts, now);
  }
}
fmLocalize(document);
setInterval(() => { if (!document.hidden) fmLocalize(document); }, 30000);
`;
