// The PyPI part of `/help/<mirror>` (the page around it is src/http/help-page.ts): copy-paste
// set-up for pip, a venv, uv, Poetry (1.x and 2.x) and pdm, the PyTorch variants the mirror
// carries, and a snippet that checks the result. Every URL is built from `public_url` (or the
// Host the reader used), so what is shown works from where the reader stands. Each snippet is
// run as shown, text taken from the rendered page, by test/integration/help-snippets.test.ts.
import { escapeHtml } from "../http/html-escape.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { isIndexPattern } from "./index-pattern.js";

export const VERIFY_SNIPPET = `python -c "import torch; print(torch.__version__, torch.cuda.is_available())"`;

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** What the section needs of the mirror. */
export type HelpMirror = Pick<PypiMirrorConfig, "name" | "indexes" | "projects">;

/** The index pip and uv should use by default: `simple` when the mirror has it, else the first. */
export function primaryIndex(mirror: Pick<HelpMirror, "indexes">): string {
  if (mirror.indexes.includes("simple")) return "simple";
  // A pattern (`whl/*`, or any index when a proxy names none) is not a URL to give out.
  return mirror.indexes.find((i) => !isIndexPattern(i)) ?? "simple";
}

export function indexUrl(publicUrl: string, mirror: Pick<HelpMirror, "name">, idx: string): string {
  return `${publicUrl}/${encodeURIComponent(mirror.name)}/${idx}`;
}

/** pip ignores plain-http indexes on other hosts unless told to trust them. */
export function trustedHost(publicUrl: string): string | undefined {
  const url = new URL(publicUrl);
  if (url.protocol !== "http:" || LOCAL_HOSTS.has(url.hostname)) return undefined;
  return url.hostname;
}

export function examplePackage(mirror: Pick<HelpMirror, "indexes" | "projects">): string {
  if (mirror.projects && mirror.projects.length > 0) return mirror.projects[0] as string;
  return mirror.indexes.some((i) => i.startsWith("whl")) ? "torch" : "numpy";
}

/** The one-line pip command the page leads with (tests check it character for character). */
export function pipInstallCommand(publicUrl: string, mirror: HelpMirror): string {
  const trusted = trustedHost(publicUrl);
  return `pip install --index-url ${indexUrl(publicUrl, mirror, primaryIndex(mirror))}${trusted ? ` --trusted-host ${trusted}` : ""} ${examplePackage(mirror)}`;
}

/** "CUDA 12.1" for whl/cu121, "CPU only" for whl/cpu, "ROCm 6.2" for whl/rocm6.2, or undefined. */
export function pytorchVariant(idx: string): string | undefined {
  const match = /^whl(?:\/(nightly|test))?(?:\/(.+))?$/.exec(idx);
  if (!match) return undefined;
  const channel = match[1] ? ` (${match[1]})` : "";
  const variant = match[2];
  if (variant === undefined) return `all variants${channel}`;
  if (variant.includes("*")) return undefined;
  const cuda = /^cu(\d+)(\d)$/.exec(variant);
  if (cuda) return `CUDA ${cuda[1]}.${cuda[2]}${channel}`;
  if (variant === "cpu") return `CPU only${channel}`;
  const rocm = /^rocm(.+)$/.exec(variant);
  if (rocm) return `ROCm ${rocm[1]}${channel}`;
  if (variant === "xpu") return `Intel XPU${channel}`;
  return `${variant}${channel}`;
}

/**
 * A source name Poetry, uv and pdm all accept for the mirror: Poetry refuses `pypi` (in every
 * version: it is PyPI's reserved name), and pdm would take a source named `pypi` as PyPI itself.
 */
export function sourceName(text: string): string {
  const name = text.replace(/[^A-Za-z0-9_-]/g, "-");
  return name.toLowerCase() === "pypi" ? `${name}-mirror` : name;
}

function code(text: string, id: string): string {
  return `<pre id="${id}"><code>${escapeHtml(text)}</code></pre>`;
}

export interface PypiHelpSnippets {
  pipInstall: string;
  pipConfig: string;
  pipConf: string;
  venv: string;
  uvToml: string;
  uvEnv: string;
  poetry2: string;
  poetry1: string;
  pdm: string;
  pdmToml: string;
  /** Present when the mirror carries PyTorch wheel indexes. */
  pytorch:
    | {
        variants: { idx: string; label: string; url: string; pip: string }[];
        uv: string;
        poetry2: string;
        poetry1: string;
      }
    | undefined;
}

/** Every snippet the section shows, as text (the page escapes them; tests run them). */
export function pypiHelpSnippets(mirror: HelpMirror, publicUrl: string): PypiHelpSnippets {
  const primary = indexUrl(publicUrl, mirror, primaryIndex(mirror));
  const trusted = trustedHost(publicUrl);
  const pkg = examplePackage(mirror);
  const source = sourceName(mirror.name);
  const trust = trusted ? ` --trusted-host ${trusted}` : "";
  const variants = mirror.indexes
    .map((idx) => ({ idx, label: pytorchVariant(idx), url: indexUrl(publicUrl, mirror, idx) }))
    .filter((v): v is { idx: string; label: string; url: string } => v.label !== undefined)
    .map((v) => ({ ...v, pip: `pip install torch --index-url ${v.url}${trust}` }));
  let pytorch: PypiHelpSnippets["pytorch"];
  const first = variants[0];
  if (first !== undefined) {
    const name = sourceName(`${mirror.name}-${first.idx.split("/").pop() ?? "whl"}`);
    const wanted = (mirror.projects ?? ["torch", "torchvision"]).filter((p) => /^torch/.test(p));
    const pinned = wanted.length > 0 ? wanted : ["torch"];
    pytorch = {
      variants,
      uv: `[[tool.uv.index]]\nname = "${name}"\nurl = "${first.url}"\nexplicit = true\n\n[tool.uv.sources]\n${pinned.map((p) => `${p} = { index = "${name}" }`).join("\n")}`,
      poetry2: `poetry source add --priority=explicit ${name} ${first.url}\npoetry add --source ${name} torch`,
      poetry1: `poetry source add --secondary ${name} ${first.url}\npoetry add --source ${name} torch`,
    };
  }
  return {
    pipInstall: pipInstallCommand(publicUrl, mirror),
    pipConfig: `pip config set global.index-url ${primary}${trusted ? `\npip config set global.trusted-host ${trusted}` : ""}`,
    pipConf: `[global]\nindex-url = ${primary}${trusted ? `\ntrusted-host = ${trusted}` : ""}`,
    venv: `python3 -m venv .venv\n. .venv/bin/activate\npip install --index-url ${primary}${trust} ${pkg}`,
    uvToml: `[[tool.uv.index]]\nname = "${source}"\nurl = "${primary}"\ndefault = true`,
    uvEnv: `export UV_DEFAULT_INDEX=${primary}\nuv pip install ${pkg}`,
    poetry2: `poetry source add --priority=primary ${source} ${primary}\npoetry add ${pkg}`,
    poetry1: `poetry source add --default ${source} ${primary}\npoetry add ${pkg}`,
    pdm: `pdm config pypi.url ${primary}${trusted ? "\npdm config pypi.verify_ssl false" : ""}\npdm add ${pkg}`,
    pdmToml: `[[tool.pdm.source]]\nname = "pypi"\nurl = "${primary}"${trusted ? "\nverify_ssl = false" : ""}`,
    pytorch,
  };
}

/** The section's HTML: headings `pip`, `uv`, `poetry`, `pdm`, `pytorch`, `verify`. */
export function renderPypiHelp(mirror: HelpMirror, publicUrl: string): string {
  const s = pypiHelpSnippets(mirror, publicUrl);
  const indexes = mirror.indexes
    .map((idx) =>
      isIndexPattern(idx)
        ? `<code>${escapeHtml(indexUrl(publicUrl, mirror, idx))}</code> <span class="muted">(any index of this shape)</span>`
        : `<code>${escapeHtml(indexUrl(publicUrl, mirror, idx))}</code>`,
    )
    .join(", ");
  let variantSection = "";
  if (s.pytorch) {
    const rows = s.pytorch.variants
      .map(
        (v) =>
          `<tr><td data-label="Variant" class="nowrap">${escapeHtml(v.label)}</td><td data-label="Index URL"><code>${escapeHtml(v.url)}</code></td><td data-label="Install"><code>${escapeHtml(v.pip)}</code></td></tr>`,
      )
      .join("\n");
    variantSection = `<h2 id="pytorch">PyTorch variants</h2>
<p>This mirror carries these PyTorch wheel indexes; pick the one matching your accelerator. Each index also carries the dependencies download.pytorch.org lists beside torch.</p>
<table class="cards" id="variants">
<thead><tr><th>Variant</th><th>Index URL</th><th>Install</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>With uv, pin torch to one variant in <code>pyproject.toml</code> and keep everything else on your default index (<code>explicit = true</code>: only the packages named in <code>[tool.uv.sources]</code> come from it):</p>
${code(s.pytorch.uv, "uv-pytorch")}
<p>With Poetry 1.5 or later (2.x included):</p>
${code(s.pytorch.poetry2, "poetry-pytorch")}
<p>With Poetry 1.2 to 1.4 (Debian 12 ships 1.3.2, which has no <code>--priority</code>):</p>
${code(s.pytorch.poetry1, "poetry1-pytorch")}
<p id="workstation-recipe">A team GPU workstation (JupyterLab and SSH) with torch from this mirror, rebuilt when PyTorch publishes: <a href="/static/workstation/">the image recipe</a>.</p>`;
  }
  return `<p>Index URL${mirror.indexes.length > 1 ? "s" : ""}: ${indexes}</p>

<h2 id="pip">pip</h2>
<p>Once:</p>
${code(s.pipInstall, "pip-install")}
<p>As your default index:</p>
${code(s.pipConfig, "pip-config")}
<p>Or in <code>pip.conf</code> (<code>~/.config/pip/pip.conf</code> on Linux, <code>~/Library/Application Support/pip/pip.conf</code> on macOS, <code>%APPDATA%\\pip\\pip.ini</code> on Windows, <code>/etc/pip.conf</code> for everyone):</p>
${code(s.pipConf, "pip-conf")}
<p>In a virtual environment, without conda:</p>
${code(s.venv, "venv")}

<h2 id="uv">uv</h2>
<p>In <code>pyproject.toml</code>:</p>
${code(s.uvToml, "uv-toml")}
<p>Or for one shell:</p>
${code(s.uvEnv, "uv-env")}

<h2 id="poetry">Poetry</h2>
<p>Poetry 1.5 or later (2.x included): a primary source replaces PyPI.</p>
${code(s.poetry2, "poetry")}
<p>Poetry 1.2 to 1.4 (Debian 12's <code>python3-poetry</code> is 1.3.2):</p>
${code(s.poetry1, "poetry1")}
<p>Poetry refuses a source named <code>pypi</code>, so the source is named <code>${escapeHtml(sourceName(mirror.name))}</code>.</p>

<h2 id="pdm">pdm</h2>
<p>For every project of this user:</p>
${code(s.pdm, "pdm")}
<p>Or for one project, in its <code>pyproject.toml</code> (a source named <code>pypi</code> replaces PyPI):</p>
${code(s.pdmToml, "pdm-toml")}
${variantSection}

<h2 id="verify">Check your environment</h2>
<p>After installing torch from the mirror:</p>
${code(VERIFY_SNIPPET, "verify")}
<p>It prints the torch version (with its variant, such as <code>+cu121</code>) and whether CUDA is usable. <code>pip config list</code> shows which index pip uses.</p>`;
}
