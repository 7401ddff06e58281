// `/help/<mirror>`: the page around a mirror's own set-up section, which its kind renders
// (MirrorRuntime.renderHelp: pip, uv, Poetry and pdm for PyPI), followed by the station's
// Docker/containerd registry-mirror settings, and `/help/` listing every mirror. Knows no
// ecosystem. Every URL is built from `public_url` (or, when it is not configured, from the Host
// the reader used), so what is shown is what works from where the reader stands.

import { redactUrl } from "../upstream/redact-url.js";
import { escapeHtml } from "./html-escape.js";
import { renderPage } from "./page-layout.js";

export interface HelpContext {
  /** Base URL of the server, no trailing slash: `http://mirror.example.edu`. */
  publicUrl: string;
  siteName: string;
  /** The OCI (container registry) mirrors configured, by name. */
  ociMirrors: readonly string[];
}

/** What the page says about the mirror around its kind's section. */
export interface HelpMirror {
  readonly name: string;
  readonly description: string | undefined;
  readonly mode: "mirror" | "proxy";
  readonly upstream: string;
  readonly disabled: boolean;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function code(text: string, id: string): string {
  return `<pre id="${id}"><code>${escapeHtml(text)}</code></pre>`;
}

// Adds a "copy" button to every snippet (where the clipboard API is there: https or localhost).
const COPY_SCRIPT = `for (const pre of document.querySelectorAll("pre")) { if (!navigator.clipboard) break; const b = document.createElement("button"); b.className = "copy"; b.type = "button"; b.textContent = "copy"; b.addEventListener("click", () => navigator.clipboard.writeText(pre.querySelector("code").textContent).then(() => { b.textContent = "copied"; setTimeout(() => { b.textContent = "copy"; }, 1500); })); pre.appendChild(b); }`;

export function renderHelpPage(mirror: HelpMirror, section: string, ctx: HelpContext): string {
  const { publicUrl } = ctx;
  const name = mirror.name;
  const url = new URL(publicUrl);
  const trusted = url.protocol === "http:" && !LOCAL_HOSTS.has(url.hostname) ? url.hostname : undefined;
  // On a registry mirror's own page its section has the client set-up; elsewhere, a pointer to the
  // registry mirrors here (or, with none, the settings that apply once one is configured).
  const ownRegistry = ctx.ociMirrors.includes(name);
  const host = new URL(publicUrl).host;
  const daemonJson = JSON.stringify(
    trusted
      ? { "registry-mirrors": [publicUrl], "insecure-registries": [host] }
      : { "registry-mirrors": [publicUrl] },
    null,
    2,
  );
  const hostsToml = `server = "https://registry-1.docker.io"\n\n[host."${publicUrl}"]\n  capabilities = ["pull", "resolve"]`;
  const containers = ownRegistry
    ? ""
    : ctx.ociMirrors.length > 0
      ? `<h2 id="docker">Docker and containerd</h2>
<p id="oci-note">Registry mirrors configured here (Docker, containerd, podman, skopeo and Kubernetes set-up on each page): ${ctx.ociMirrors.map((m) => `<a href="/help/${encodeURIComponent(m)}">${escapeHtml(m)}</a>`).join(", ")}.</p>`
      : `<h2 id="docker">Docker and containerd</h2>
<p class="error" id="oci-note"><strong>OCI mirroring is not yet available:</strong> no OCI (container registry) mirror is configured on this server, so Docker and containerd cannot use it yet. Once one is, the settings below apply.</p>
<p>Docker: <code>/etc/docker/daemon.json</code>, then <code>systemctl restart docker</code>:</p>
${code(daemonJson, "daemon-json")}
<p>containerd: <code>/etc/containerd/certs.d/docker.io/hosts.toml</code>:</p>
${code(hostsToml, "hosts-toml")}`;

  const body = `<h1>Using the <code>${escapeHtml(name)}</code> mirror</h1>
<p>${mirror.description ? `${escapeHtml(mirror.description)}. ` : ""}A ${mirror.mode === "proxy" ? "pull-through cache" : "verified mirror"} of <a href="${escapeHtml(redactUrl(mirror.upstream))}" rel="noreferrer">${escapeHtml(redactUrl(mirror.upstream))}</a>. <a href="/${encodeURIComponent(name)}/">Browse it</a> · <a href="/status/${encodeURIComponent(name)}">status and freshness</a>.</p>
${section}

${containers}
`;
  return renderPage({
    title: `${name} help · ${ctx.siteName}`,
    siteName: ctx.siteName,
    body,
    script: COPY_SCRIPT,
  });
}

export function renderHelpIndex(mirrors: readonly HelpMirror[], ctx: HelpContext): string {
  const items = mirrors
    .filter((m) => !m.disabled)
    .map(
      (m) =>
        `<li><a href="/help/${encodeURIComponent(m.name)}">${escapeHtml(m.name)}</a>${m.description ? ` <span class="muted">${escapeHtml(m.description)}</span>` : ""}${
          // A registry mirror has no index URL: clients name it as <host>/<mirror>/<image>.
          Array.isArray((m as { indexes?: unknown }).indexes)
            ? `<br><code>${escapeHtml(`${ctx.publicUrl}/${encodeURIComponent(m.name)}/`)}</code>`
            : `<br><code>${escapeHtml(`${new URL(ctx.publicUrl).host}/${m.name}/<image>:<tag>`)}</code>`
        }</li>`,
    )
    .join("\n");
  return renderPage({
    title: `Help · ${ctx.siteName}`,
    siteName: ctx.siteName,
    body: `<h1>Set-up help</h1>\n<ul>\n${items || "<li>No mirrors are configured.</li>"}\n</ul>`,
  });
}
