// Pages for people, beside the pages for pip: `/<mirror>/` (the mirror's landing page: its
// indexes, its projects with versions and sizes, the last sync, the help link) and
// `/<mirror>/+project/<name>` (a project: versions newest first, each file with its variant,
// tags, size, sha256, upload time). `+` cannot start a PEP 508 name or an index path, so these
// never collide with `/<mirror>/<index>/<project>/` (PEP 503) or a file path; `+files/` is
// already the mirror's path for other hosts' files. Everything shown is HTML-escaped.
import { formatBytes } from "../config/duration.js";
import { escapeHtml } from "../http/html-escape.js";
import { renderPage } from "../http/page-layout.js";
import { formatPageTime, formatRelative, PAGE_TIME_SCRIPT } from "../http/time-format.js";
import type { FileRecord, ProjectRecord } from "../store/state-store.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { parseDistributionFilename } from "./distribution-filename.js";
import { indexUrl } from "./help-section.js";
import { isIndexPattern } from "./index-pattern.js";
import { encodeMirrorPath } from "./mirror-paths.js";
import { compareVersions, formatVersion, parseVersion, publicVersion } from "./pep440-version.js";

/** Most project rows a landing page shows (a filter narrows them). */
export const MAX_PROJECT_ROWS = 500;

export interface IndexSummary {
  idx: string;
  /** Undefined: nothing published (a proxy, or not synced yet). */
  publishedAt: number | undefined;
  projects: number;
  files: number;
  bytes: number;
}

export interface ProjectSummary {
  name: string;
  displayName: string;
  /** Public versions, newest first (2.6.0 for 2.6.0+cu121 and 2.6.0+cpu). */
  versions: string[];
  files: number;
  bytes: number;
  indexes: string[];
}

export interface MirrorSummary {
  indexes: IndexSummary[];
  projects: ProjectSummary[];
}

/** What the landing page says about the mirror's state. */
export interface LandingState {
  state: string;
  lastSuccessAt: number | null;
  lastError: string | null;
}

/** The public version of a file name ("2.6.0" for torch-2.6.0+cu121-…whl), or undefined. */
function versionOf(filename: string): { public: string; local: string | undefined } | undefined {
  const parsed = parseDistributionFilename(filename);
  const version = parsed && parseVersion(parsed.version);
  if (!version) return undefined;
  return { public: formatVersion(publicVersion(version)), local: version.local?.join(".") };
}

function byVersionDesc(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va && vb) return compareVersions(vb, va);
  return b.localeCompare(a);
}

/** Aggregates a mirror's published snapshots: per index, and per project across indexes. */
export function summarizeMirror(
  snapshots: readonly { idx: string; publishedAt: number; projects: ProjectRecord[]; files: FileRecord[] }[],
): MirrorSummary {
  const indexes: IndexSummary[] = [];
  const projects = new Map<string, ProjectSummary & { versionSet: Set<string> }>();
  for (const snap of snapshots) {
    indexes.push({
      idx: snap.idx,
      publishedAt: snap.publishedAt,
      projects: snap.projects.length,
      files: snap.files.length,
      bytes: snap.files.reduce((sum, f) => sum + f.size, 0),
    });
    for (const p of snap.projects) {
      const entry = projects.get(p.name) ?? {
        name: p.name,
        displayName: p.displayName,
        versions: [],
        versionSet: new Set<string>(),
        files: 0,
        bytes: 0,
        indexes: [],
      };
      entry.indexes.push(snap.idx);
      projects.set(p.name, entry);
    }
    for (const f of snap.files) {
      const entry = projects.get(f.project);
      if (!entry) continue;
      entry.files++;
      entry.bytes += f.size;
      const v = versionOf(f.filename);
      if (v) entry.versionSet.add(v.public);
    }
  }
  return {
    indexes,
    projects: [...projects.values()]
      .map(({ versionSet, ...p }) => ({ ...p, versions: [...versionSet].sort(byVersionDesc) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function timeCell(ms: number | null | undefined, now: number, none: string): string {
  if (ms === null || ms === undefined) return `<span class="muted">${escapeHtml(none)}</span>`;
  return `<time datetime="${new Date(ms).toISOString()}" data-ts="${ms}">${escapeHtml(formatPageTime(ms))}</time> <span class="ago">${escapeHtml(formatRelative(ms, now))}</span>`;
}

const mirrorHref = (mirror: string) => `/${encodeURIComponent(mirror)}/`;
export const projectHref = (mirror: string, project: string) =>
  `/${encodeURIComponent(mirror)}/+project/${encodeURIComponent(project)}`;

export interface LandingOptions {
  siteName: string;
  publicUrl: string;
  now: number;
  /** `?q=`: only projects whose name contains it. */
  filter: string;
}

export function renderLandingPage(
  config: PypiMirrorConfig,
  summary: MirrorSummary,
  state: LandingState,
  options: LandingOptions,
): string {
  const { now } = options;
  const name = config.name;
  const enc = encodeURIComponent(name);
  const published = new Map(summary.indexes.map((i) => [i.idx, i]));
  const indexRows = config.indexes
    .map((idx) => {
      const s = published.get(idx);
      const url = indexUrl(options.publicUrl, config, idx);
      const link = isIndexPattern(idx)
        ? `<code>${escapeHtml(url)}</code>`
        : `<a href="${escapeHtml(`/${enc}/${encodeMirrorPath(idx)}/`)}"><code>${escapeHtml(url)}</code></a>`;
      return `<tr><td data-label="Index">${link}</td>${
        s
          ? `<td data-label="Projects" class="num">${s.projects}</td><td data-label="Files" class="num">${s.files}</td><td data-label="Size" class="num">${escapeHtml(formatBytes(s.bytes))}</td><td data-label="Published">${timeCell(s.publishedAt, now, "")}</td>`
          : `<td colspan="4" class="muted">${config.mode === "proxy" ? "fetched from upstream on demand" : "not published yet"}</td>`
      }</tr>`;
    })
    .join("\n");
  const q = options.filter.trim().toLowerCase();
  const matching = q === "" ? summary.projects : summary.projects.filter((p) => p.name.includes(q));
  const shown = matching.slice(0, MAX_PROJECT_ROWS);
  const projectRows = shown
    .map(
      (p) =>
        `<tr data-project="${escapeHtml(p.name)}"><td data-label="Project"><a href="${escapeHtml(projectHref(name, p.name))}"><strong>${escapeHtml(p.displayName)}</strong></a></td><td data-label="Latest">${escapeHtml(p.versions[0] ?? "—")}</td><td data-label="Versions" class="versions">${escapeHtml(p.versions.slice(0, 8).join(", "))}${p.versions.length > 8 ? ` <span class="muted">+${p.versions.length - 8} more</span>` : ""}</td><td data-label="Files" class="num">${p.files}</td><td data-label="Size" class="num">${escapeHtml(formatBytes(p.bytes))}</td><td data-label="Indexes"><small>${p.indexes.map(escapeHtml).join(", ")}</small></td></tr>`,
    )
    .join("\n");
  const totalFiles = summary.indexes.reduce((sum, i) => sum + i.files, 0);
  const totalBytes = summary.indexes.reduce((sum, i) => sum + i.bytes, 0);
  const projectsSection =
    summary.projects.length === 0
      ? `<p class="muted">${config.mode === "proxy" ? "A pull-through cache: projects are fetched from upstream when a client asks for them, so there is no list to browse." : "Nothing is published yet: the first sync has not finished."}</p>`
      : `<form method="get" action="${escapeHtml(mirrorHref(name))}" class="filter"><input type="search" name="q" value="${escapeHtml(options.filter)}" placeholder="filter projects" aria-label="filter projects"> <button type="submit">Filter</button>${q ? ` <a href="${escapeHtml(mirrorHref(name))}">all</a>` : ""}</form>
<p class="muted">${matching.length === summary.projects.length ? `${summary.projects.length} project${summary.projects.length === 1 ? "" : "s"}` : `${matching.length} of ${summary.projects.length} projects match`}${matching.length > shown.length ? `, the first ${shown.length} shown` : ""}.</p>
<table class="cards" id="projects">
<thead><tr><th>Project</th><th>Latest</th><th>Versions</th><th class="num">Files</th><th class="num">Size</th><th>Indexes</th></tr></thead>
<tbody>
${projectRows || `<tr><td colspan="6" class="muted">No project matches.</td></tr>`}
</tbody>
</table>`;
  const body = `<h1>${escapeHtml(name)} <span class="badge state-${escapeHtml(state.state)}">${escapeHtml(state.state === "none" && config.mode === "proxy" ? "fetched on demand" : state.state)}</span></h1>
${config.description ? `<p>${escapeHtml(config.description)}</p>` : ""}
<dl class="facts">
<dt>Upstream</dt><dd><a href="${escapeHtml(config.upstream)}" rel="noreferrer">${escapeHtml(config.upstream)}</a></dd>
<dt>Mode</dt><dd>${config.mode === "proxy" ? "pull-through cache (fetched on demand)" : `mirror (synced${config.onMiss === "fetch" ? "; what it lacks is fetched on demand" : ""})`}</dd>
<dt>Last sync</dt><dd id="last-sync">${config.mode === "proxy" ? `<span class="muted">—</span>` : timeCell(state.lastSuccessAt, now, "never")}${state.lastError ? ` <span class="error">${escapeHtml(state.lastError.split("\n")[0] ?? "")}</span>` : ""}</dd>
<dt>Published</dt><dd>${escapeHtml(formatBytes(totalBytes))} <span class="muted">· ${totalFiles} files</span></dd>
<dt>Use it</dt><dd><a href="/help/${enc}">set-up help (pip, uv, Poetry, pdm)</a> · <a href="/status/${enc}">status and run history</a> · <a href="/api/v1/mirrors/${enc}">JSON</a></dd>
</dl>
<h2>Indexes</h2>
<table class="cards" id="indexes">
<thead><tr><th>Index URL</th><th class="num">Projects</th><th class="num">Files</th><th class="num">Size</th><th>Published</th></tr></thead>
<tbody>
${indexRows}
</tbody>
</table>
<h2>Projects</h2>
${projectsSection}`;
  return renderPage({
    title: `${name} · ${options.siteName}`,
    siteName: options.siteName,
    body,
    script: PAGE_TIME_SCRIPT,
  });
}

export interface ProjectIndexFiles {
  idx: string;
  record: ProjectRecord;
  files: FileRecord[];
}

/** The variant of a file: its local version label (`cu121`), else "". */
function variantOf(filename: string): string {
  return versionOf(filename)?.local ?? "";
}

function tagsOf(filename: string): string {
  const parsed = parseDistributionFilename(filename);
  if (!parsed) return "";
  if (parsed.kind === "sdist") return "source";
  return `${parsed.pythonTags.join(".")} · ${parsed.abiTags.join(".")} · ${parsed.platformTags.join(".")}`;
}

function uploadTime(file: FileRecord, now: number): string {
  const ms = file.uploadTime === null ? Number.NaN : Date.parse(file.uploadTime);
  return Number.isFinite(ms) ? timeCell(ms, now, "") : `<span class="muted">—</span>`;
}

export function renderProjectPage(
  config: PypiMirrorConfig,
  project: string,
  found: readonly ProjectIndexFiles[],
  options: { siteName: string; publicUrl: string; now: number },
): string {
  const name = config.name;
  const enc = encodeURIComponent(name);
  const display = found[0]?.record.displayName ?? project;
  const versions = new Map<string, { idx: string; file: FileRecord }[]>();
  for (const { idx, files } of found) {
    for (const file of files) {
      const v = versionOf(file.filename)?.public ?? "?";
      const list = versions.get(v) ?? [];
      list.push({ idx, file });
      versions.set(v, list);
    }
  }
  const ordered = [...versions.keys()].sort(byVersionDesc);
  const totalBytes = found.reduce((sum, f) => sum + f.files.reduce((s, x) => s + x.size, 0), 0);
  const sections = ordered
    .map((version) => {
      const files = (versions.get(version) ?? []).sort(
        (a, b) => a.idx.localeCompare(b.idx) || a.file.filename.localeCompare(b.file.filename),
      );
      const rows = files
        .map(({ idx, file }) => {
          const href = `/${enc}/${encodeMirrorPath(file.path)}`;
          const variant = variantOf(file.filename);
          return `<tr><td data-label="File"><a href="${escapeHtml(href)}">${escapeHtml(file.filename)}</a>${file.yanked !== null ? ` <span class="badge state-failed" title="${escapeHtml(file.yanked || "yanked")}">yanked</span>` : ""}</td><td data-label="Variant">${variant ? `<code>${escapeHtml(variant)}</code>` : `<span class="muted">—</span>`}</td><td data-label="Tags"><small>${escapeHtml(tagsOf(file.filename))}</small></td><td data-label="Index"><small>${escapeHtml(idx)}</small></td><td data-label="Size" class="num">${escapeHtml(formatBytes(file.size))}</td><td data-label="sha256" class="hash"><code title="${escapeHtml(file.sha256)}">${escapeHtml(file.sha256.slice(0, 12))}…</code></td><td data-label="Uploaded">${uploadTime(file, options.now)}</td><td data-label="Python"><small>${escapeHtml(file.requiresPython ?? "")}</small></td></tr>`;
        })
        .join("\n");
      return `<h2 id="v-${escapeHtml(version)}">${escapeHtml(version)} <small class="muted">${files.length} file${files.length === 1 ? "" : "s"}</small></h2>
<table class="cards files">
<thead><tr><th>File</th><th>Variant</th><th>Tags</th><th>Index</th><th class="num">Size</th><th>sha256</th><th>Uploaded</th><th>Requires Python</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
    })
    .join("\n");
  const indexLinks = found
    .map(
      ({ idx }) =>
        `<a href="${escapeHtml(`/${enc}/${encodeMirrorPath(idx)}/${encodeURIComponent(project)}/`)}"><code>${escapeHtml(`${indexUrl(options.publicUrl, config, idx)}/${project}/`)}</code></a>`,
    )
    .join(", ");
  const body = `<p><a href="/${enc}/">← ${escapeHtml(name)}</a></p>
<h1>${escapeHtml(display)}</h1>
<dl class="facts">
<dt>Versions</dt><dd>${ordered.map((v) => `<a href="#v-${escapeHtml(v)}">${escapeHtml(v)}</a>`).join(", ")}</dd>
<dt>Files</dt><dd>${found.reduce((sum, f) => sum + f.files.length, 0)} <span class="muted">· ${escapeHtml(formatBytes(totalBytes))}</span></dd>
<dt>Index pages</dt><dd>${indexLinks}</dd>
<dt>Install</dt><dd><a href="/help/${enc}">set-up help</a></dd>
</dl>
${sections}`;
  return renderPage({
    title: `${display} · ${name} · ${options.siteName}`,
    siteName: options.siteName,
    body,
    script: PAGE_TIME_SCRIPT,
  });
}
