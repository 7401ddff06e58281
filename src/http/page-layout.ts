// The frame every HTML page of the server shares: one inline stylesheet (no asset from outside
// the server, nothing to fetch), readable on a phone, and readable without JavaScript.
import { escapeHtml } from "./html-escape.js";

const CSS = `
:root { color-scheme: light; --fg: #212529; --muted: #6c757d; --line: #dee2e6; --bg: #fff; --accent: #1c7ed6; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
header.site { border-bottom: 1px solid var(--line); }
header.site .inner { max-width: 72rem; margin: 0 auto; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: baseline; }
header.site a.home { font-weight: 700; font-size: 1.15rem; color: var(--fg); text-decoration: none; }
header.site nav a { margin-right: .9rem; color: var(--muted); font-size: .9rem; }
a { color: var(--accent); }
h1 { font-size: 1.5rem; margin: .6rem 0 .8rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
small, .muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.c-lag, .c-size, td.nowrap { white-space: nowrap; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; background: #e9ecef; color: #495057; white-space: nowrap; }
.state-success { background: #d3f9d8; color: #2b8a3e; }
.state-failed { background: #ffe3e3; color: #c92a2a; }
.state-syncing { background: #d0ebff; color: #1864ab; }
.state-pre-syncing { background: #e7f5ff; color: #1971c2; }
.state-paused { background: #fff3bf; color: #946200; }
.state-disabled { background: #f1f3f5; color: #868e96; }
.state-none { background: #f1f3f5; color: #495057; }
.state-running { background: #d0ebff; color: #1864ab; }
.lag-ok { color: #2b8a3e; }
.lag-warn { color: #b35c00; font-weight: 600; }
.lag-critical { color: #c92a2a; font-weight: 700; }
.lag-unknown { color: #b35c00; font-weight: 600; }
.ago { color: var(--muted); font-size: .85rem; white-space: nowrap; }
time { white-space: nowrap; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: #f8f9fa; border: 1px solid var(--line); border-radius: .4rem; padding: .6rem .8rem; overflow-x: auto; position: relative; }
pre .copy { position: absolute; top: .3rem; right: .3rem; font-size: .75rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.chart { max-width: 640px; border: 1px solid var(--line); border-radius: .4rem; }
.error { color: #c92a2a; }
.progress { margin-top: .3rem; white-space: nowrap; }
.progress progress { width: 7rem; height: .7rem; vertical-align: middle; accent-color: var(--accent); }
.progress .p-text { white-space: normal; }
form.filter { margin: .4rem 0; }
form.filter input { font: inherit; padding: .25rem .45rem; border: 1px solid var(--line); border-radius: .3rem; min-width: 14rem; }
td.versions { max-width: 26rem; }
td.hash code { font-size: .8rem; }
footer { color: var(--muted); font-size: .8rem; margin-top: 2rem; }
@media (max-width: 720px) {
  main { padding: .6rem; }
  table.cards thead { display: none; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards tr { border: 1px solid var(--line); border-radius: .5rem; margin-bottom: .7rem; padding: .3rem .2rem; }
  table.cards td { border: 0; padding: .2rem .5rem; }
  table.cards td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: .8rem; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .4rem; }
}
`;

export interface PageOptions {
  title: string;
  siteName: string;
  body: string;
  /** Inline script, run at the end of the body. */
  script?: string;
}

export function renderPage({ title, siteName, body, script }: PageOptions): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<header class="site"><div class="inner"><a class="home" href="/">${escapeHtml(siteName)}</a>
<nav><a href="/">status</a><a href="/help/">help</a><a href="/api/v1/mirrors">API</a><a href="/jobs">jobs</a><a href="/mirrorz.json">mirrorz</a><a href="/metrics">metrics</a></nav></div></header>
<main>
${body}
<footer>Served by freshmirror.</footer>
</main>
${script ? `<script>${script}</script>` : ""}
</body>
</html>
`;
}
