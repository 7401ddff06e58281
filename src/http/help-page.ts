// `/help/<mirror>`: copy-paste set-up for pip, uv and Poetry, the PyTorch variants the mirror
// carries with their index URLs, Docker/containerd registry mirrors, and a snippet that checks
// the result. Every URL is built from `public_url` (or, when it is not configured, from the
// Host the reader used), so what is shown is what works from where the reader stands.

import type { PypiMirrorConfig as MirrorConfig } from "../pypi/config-schema.js";
import { isIndexPattern } from "../pypi/index-pattern.js";
import { redactUrl } from "../upstream/redact-url.js";
import { escapeHtml } from "./html-escape.js";
import { renderPage } from "./page-layout.js";

export const VERIFY_SNIPPET = `python -c "import torch; print(torch.__version__, torch.cuda.is_available())"`;

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export interface HelpContext {
  /** Base URL of the server, no trailing slash: `http://mirror.example.edu`. */
  publicUrl: string;
  siteName: string;
  /** The OCI (container registry) mirrors configured, by name. */
  ociMirrors: readonly string[];
}

/** The index pip and uv should use by default: `simple` when the mirror has it, else the first. */
export function primaryIndex(mirror: MirrorConfig): string {
  if (mirror.indexes.includes("simple")) return "simple";
  // A pattern (`whl/*`, or any index when a proxy names none) is not a URL to give out.
  return mirror.indexes.find((i) => !isIndexPattern(i)) ?? "simple";
}

export function indexUrl(publicUrl: string, mirror: MirrorConfig, idx: string): string {
  return `${publicUrl}/${encodeURIComponent(mirror.name)}/${idx}`;
}

/** pip ignores plain-http indexes on other hosts unless told to trust them. */
export function trustedHost(publicUrl: string): string | undefined {
  const url = new URL(publicUrl);
  if (url.protocol !== "http:" || LOCAL_HOSTS.has(url.hostname)) return undefined;
  return url.hostname;
}

function examplePackage(mirror: MirrorConfig): string {
  if (mirror.projects && mirror.projects.length > 0) return mirror.projects[0] as string;
  return mirror.indexes.some((i) => i.startsWith("whl")) ? "torch" : "numpy";
}

/** The one-line pip command the page leads with (tests check it character for character). */
export function pipInstallCommand(publicUrl: string, mirror: MirrorConfig): string {
  const trusted = trustedHost(publicUrl);
  return `pip install -i ${indexUrl(publicUrl, mirror, primaryIndex(mirror))}${trusted ? ` --trusted-host ${trusted}` : ""} ${examplePackage(mirror)}`;
}

/** "CUDA 12.1" for whl/cu121, "CPU only" for whl/cpu, "ROCm 6.2" for whl/rocm6.2, or undefined. */
export function pytorchVariant(idx: string): string | undefined {
  const match = /^whl(?:\/(nightly|test))?(?:\/(.+))?$/.exec(idx);
  if (!match) return undefined;
  const channel = match[1] ? ` (${match[1]})` : "";
  const variant = match[2];
  if (variant === undefined) return `all variants${channel}`;
  const cuda = /^cu(\d+)(\d)$/.exec(variant);
  if (cuda) return `CUDA ${cuda[1]}.${cuda[2]}${channel}`;
  if (variant === "cpu") return `CPU only${channel}`;
  const rocm = /^rocm(.+)$/.exec(variant);
  if (rocm) return `ROCm ${rocm[1]}${channel}`;
  if (variant === "xpu") return `Intel XPU${channel}`;
  return `${variant}${channel}`;
}

function code(text: string, id?: string): string {
  return `<pre${id ? ` id="${id}"` : ""}><code>${escapeHtml(text)}</code></pre>`;
}

function tomlName(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, "-");
}

export function renderHelpPage(mirror: MirrorConfig, ctx: HelpContext): string {
  const { publicUrl } = ctx;
  const primary = indexUrl(publicUrl, mirror, primaryIndex(mirror));
  const trusted = trustedHost(publicUrl);
  const pkg = examplePackage(mirror);
  const name = mirror.name;
  const variants = mirror.indexes
    .map((idx) => ({ idx, label: pytorchVariant(idx), url: indexUrl(publicUrl, mirror, idx) }))
    .filter((v): v is { idx: string; label: string; url: string } => v.label !== undefined);

  const pipConf = `[global]\nindex-url = ${primary}${trusted ? `\ntrusted-host = ${trusted}` : ""}`;
  const pipConfig = `pip config set global.index-url ${primary}${trusted ? `\npip config set global.trusted-host ${trusted}` : ""}`;
  const uvToml = `[[tool.uv.index]]\nname = "${tomlName(name)}"\nurl = "${primary}"\ndefault = true`;

  let variantSection = "";
  if (variants.length > 0) {
    const rows = variants
      .map(
        (v) =>
          `<tr><td data-label="Variant" class="nowrap">${escapeHtml(v.label)}</td><td data-label="Index URL"><code>${escapeHtml(v.url)}</code></td><td data-label="Install"><code>${escapeHtml(`pip install torch --index-url ${v.url}${trusted ? ` --trusted-host ${trusted}` : ""}`)}</code></td></tr>`,
      )
      .join("\n");
    const first = variants[0] as { idx: string; label: string; url: string };
    const indexName = tomlName(`${name}-${first.idx.split("/").pop() ?? "whl"}`);
    const projects = (mirror.projects ?? ["torch", "torchvision"]).filter((p) => /^torch/.test(p));
    variantSection = `<h2 id="pytorch">PyTorch variants</h2>
<p>This mirror carries these PyTorch wheel indexes; pick the one matching your accelerator. Each index also carries the dependencies download.pytorch.org lists beside torch.</p>
<table class="cards" id="variants">
<thead><tr><th>Variant</th><th>Index URL</th><th>Install</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>With uv, pin torch to one variant and keep everything else on your default index:</p>
${code(`[[tool.uv.index]]\nname = "${indexName}"\nurl = "${first.url}"\nexplicit = true\n\n[tool.uv.sources]\n${(projects.length ? projects : ["torch"]).map((p) => `${p} = { index = "${indexName}" }`).join("\n")}`)}
<p>With Poetry:</p>
${code(`poetry source add --priority=explicit ${indexName} ${first.url}\npoetry add --source ${indexName} torch`)}`;
  }

  const oci =
    ctx.ociMirrors.length > 0
      ? `<p id="oci-note">Registry mirrors configured here (Docker, containerd, podman, skopeo and Kubernetes set-up on each page): ${ctx.ociMirrors.map((m) => `<a href="/help/${encodeURIComponent(m)}">${escapeHtml(m)}</a>`).join(", ")}.</p>`
      : `<p class="error" id="oci-note"><strong>OCI mirroring is not yet available:</strong> no OCI (container registry) mirror is configured on this server, so Docker and containerd cannot use it yet. Once one is, the settings below apply.</p>`;
  const host = new URL(publicUrl).host;
  const daemonJson = JSON.stringify(
    trusted
      ? { "registry-mirrors": [publicUrl], "insecure-registries": [host] }
      : { "registry-mirrors": [publicUrl] },
    null,
    2,
  );
  const hostsToml = `server = "https://registry-1.docker.io"\n\n[host."${publicUrl}"]\n  capabilities = ["pull", "resolve"]`;

  const body = `<h1>Using the <code>${escapeHtml(name)}</code> mirror</h1>
<p>${mirror.description ? `${escapeHtml(mirror.description)}. ` : ""}A ${mirror.mode === "proxy" ? "pull-through cache" : "verified mirror"} of <a href="${escapeHtml(redactUrl(mirror.upstream))}" rel="noreferrer">${escapeHtml(redactUrl(mirror.upstream))}</a>. <a href="/status/${encodeURIComponent(name)}">Status and freshness</a>.</p>
<p>Index URL${mirror.indexes.length > 1 ? "s" : ""}: ${mirror.indexes.map((idx) => `<code>${escapeHtml(indexUrl(publicUrl, mirror, idx))}</code>`).join(", ")}</p>

<h2 id="pip">pip</h2>
<p>Once:</p>
${code(pipInstallCommand(publicUrl, mirror), "pip-install")}
<p>As your default index:</p>
${code(pipConfig, "pip-config")}
<p>Or in <code>pip.conf</code> (<code>~/.config/pip/pip.conf</code> on Linux, <code>~/Library/Application Support/pip/pip.conf</code> on macOS, <code>%APPDATA%\\pip\\pip.ini</code> on Windows, <code>/etc/pip.conf</code> for everyone):</p>
${code(pipConf, "pip-conf")}

<h2 id="uv">uv</h2>
<p>In <code>pyproject.toml</code>:</p>
${code(uvToml, "uv-toml")}
<p>Or for one shell:</p>
${code(`export UV_DEFAULT_INDEX=${primary}\nuv pip install ${pkg}`, "uv-env")}

<h2 id="poetry">Poetry</h2>
${code(`poetry source add --priority=primary ${tomlName(name)} ${primary}\npoetry add ${pkg}`, "poetry")}
${variantSection}

<h2 id="docker">Docker and containerd</h2>
${oci}
<p>Docker: <code>/etc/docker/daemon.json</code>, then <code>systemctl restart docker</code>:</p>
${code(daemonJson, "daemon-json")}
<p>containerd: <code>/etc/containerd/certs.d/docker.io/hosts.toml</code>:</p>
${code(hostsToml, "hosts-toml")}

<h2 id="verify">Check your environment</h2>
<p>After installing torch from the mirror:</p>
${code(VERIFY_SNIPPET, "verify")}
<p>It prints the torch version (with its variant, such as <code>+cu121</code>) and whether CUDA is usable. <code>pip config list</code> shows which index pip uses.</p>`;
  return renderPage({
    title: `${name} help · ${ctx.siteName}`,
    siteName: ctx.siteName,
    body,
    script: `for (const pre of document.querySelectorAll("pre")) { if (!navigator.clipboard) break; const b = document.createElement("button"); b.className = "copy"; b.type = "button"; b.textContent = "copy"; b.addEventListener("click", () => navigator.clipboard.writeText(pre.querySelector("code").textContent).then(() => { b.textContent = "copied"; setTimeout(() => { b.textContent = "copy"; }, 1500); })); pre.appendChild(b); }`,
  });
}

export function renderHelpIndex(mirrors: readonly MirrorConfig[], ctx: HelpContext): string {
  const items = mirrors
    .filter((m) => !m.disabled)
    .map(
      (m) =>
        `<li><a href="/help/${encodeURIComponent(m.name)}">${escapeHtml(m.name)}</a>${m.description ? ` <span class="muted">${escapeHtml(m.description)}</span>` : ""}${
          // A registry mirror has no index URL: clients name it as <host>/<mirror>/<image>.
          Array.isArray((m as { indexes?: unknown }).indexes)
            ? `<br><code>${escapeHtml(indexUrl(ctx.publicUrl, m, primaryIndex(m)))}</code>`
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
