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
