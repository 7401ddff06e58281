// The OCI mirror's section of `/help/<mirror>`: copy-paste set-up for Docker, containerd,
// podman, skopeo and Kubernetes nodes, built from the URL the reader reached the server at.
// How each client finds a mirror:
// - Docker: `registry-mirrors` in daemon.json applies to Docker Hub only (requests go without a
//   namespace, which this server routes to its docker.io mirror); any other registry is pulled
//   by name through `/v2/<mirror>/...`.
//   https://docs.docker.com/docker-hub/image-library/mirror/#configure-the-docker-daemon
// - containerd: `/etc/containerd/certs.d/<registry>/hosts.toml`; containerd adds `?ns=<registry>`,
//   which routes to the mirror serving that registry.
//   https://github.com/containerd/containerd/blob/main/docs/hosts.md
// - podman, buildah, skopeo (containers/image): `[[registry.mirror]]` in registries.conf; a
//   mirror location may carry a path (`HOST/<mirror>`).
//   https://github.com/containers/image/blob/main/docs/containers-registries.conf.5.md
import { escapeHtml } from "../http/html-escape.js";

/** What the section needs of an OCI mirror's config. */
export interface OciHelpMirror {
  readonly name: string;
  /** The name clients know the upstream by: `docker.io`, `ghcr.io`, `nvcr.io`. */
  readonly registry: string;
  /** The upstream's origin (`https://registry-1.docker.io`). */
  readonly upstream: string;
  /** Pre-synced repositories and the tag patterns of each (as written in the config). */
  readonly images: readonly { repository: string; tags: readonly string[] }[];
  /** Platforms fetched ahead (`linux/amd64`); empty for all. */
  readonly platforms: readonly string[];
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function code(text: string, id: string): string {
  return `<pre id="${id}"><code>${escapeHtml(text)}</code></pre>`;
}

/** A repository and tag to show in commands: the first pre-synced exact tag, else a common one. */
export function exampleImage(mirror: OciHelpMirror): string {
  for (const image of mirror.images) {
    const tag = image.tags.find((t) => !t.startsWith("/"));
    if (tag) return `${image.repository}:${tag}`;
  }
  const first = mirror.images[0];
  if (first) return `${first.repository}:latest`;
  return mirror.registry === "docker.io" ? "library/alpine:latest" : "org/image:tag";
}

/** The host name Docker and podman see for this server (no scheme). */
function registryHost(publicUrl: string): string {
  return new URL(publicUrl).host;
}

/** Plain http anywhere but loopback: Docker, podman and skopeo need to be told to allow it. */
function isInsecure(publicUrl: string): boolean {
  const url = new URL(publicUrl);
  return url.protocol === "http:" && !LOCAL_HOSTS.has(url.hostname);
}

export function dockerDaemonJson(publicUrl: string): string {
  const host = registryHost(publicUrl);
  // Docker allows plain http to loopback (127.0.0.0/8) without being told.
  return JSON.stringify(
    isInsecure(publicUrl)
      ? { "registry-mirrors": [publicUrl], "insecure-registries": [host] }
      : { "registry-mirrors": [publicUrl] },
    null,
    2,
  );
}

/** containerd's hosts.toml for the registry: `server` is the upstream, the host is this server. */
export function containerdHostsToml(mirror: OciHelpMirror, publicUrl: string): string {
  const server =
    mirror.registry === "docker.io" ? "https://registry-1.docker.io" : `https://${mirror.registry}`;
  return `server = "${server}"\n\n[host."${publicUrl}"]\n  capabilities = ["pull", "resolve"]`;
}

export function podmanRegistriesConf(mirror: OciHelpMirror, publicUrl: string): string {
  const location = `${registryHost(publicUrl)}/${mirror.name}`;
  return `[[registry]]\nprefix = "${mirror.registry}"\nlocation = "${mirror.registry}"\n\n[[registry.mirror]]\nlocation = "${location}"${
    new URL(publicUrl).protocol === "http:" ? "\ninsecure = true" : ""
  }`;
}

/** The `<h2>` sections of an OCI mirror's help (an HTML fragment). */
export function renderOciHelp(mirror: OciHelpMirror, publicUrl: string): string {
  const host = registryHost(publicUrl);
  const http = new URL(publicUrl).protocol === "http:";
  const image = exampleImage(mirror);
  const byName = `${host}/${mirror.name}/${image}`;
  const hub = mirror.registry === "docker.io";
  const tlsFlag = http ? " --tls-verify=false" : "";
  const certsDir = `/etc/containerd/certs.d/${mirror.registry}`;

  const presynced =
    mirror.images.length === 0
      ? `<p>Nothing is pre-synced: images are fetched from <code>${escapeHtml(mirror.registry)}</code> when first pulled, then served from here.</p>`
      : `<p>Pre-synced${mirror.platforms.length > 0 ? ` for ${mirror.platforms.map((p) => `<code>${escapeHtml(p)}</code>`).join(", ")}` : ""} (other platforms and images are fetched when first pulled):</p>
<table id="oci-images"><thead><tr><th>Repository</th><th>Tags</th></tr></thead><tbody>
${mirror.images
  .map(
    (i) =>
      `<tr><td data-label="Repository"><code>${escapeHtml(i.repository)}</code></td><td data-label="Tags">${i.tags.map((t) => `<code>${escapeHtml(t)}</code>`).join(" ")}</td></tr>`,
  )
  .join("\n")}
</tbody></table>`;

  const dockerHub = `<p>Docker sends Docker Hub pulls to a registry mirror: put this in <code>/etc/docker/daemon.json</code>, then <code>systemctl restart docker</code>:</p>
${code(dockerDaemonJson(publicUrl), "oci-daemon-json")}
${code(`docker pull ${image.startsWith("library/") ? image.slice("library/".length) : image}`, "oci-docker-pull")}`;
  const dockerOther = `<p>Docker uses <code>registry-mirrors</code> for Docker Hub only; pull images of <code>${escapeHtml(mirror.registry)}</code> through this mirror by name:</p>
${code(`docker pull ${byName}`, "oci-docker-pull")}
${isInsecure(publicUrl) ? `<p>This server speaks plain http: add it to <code>insecure-registries</code> in <code>/etc/docker/daemon.json</code> and restart docker:</p>\n${code(JSON.stringify({ "insecure-registries": [host] }, null, 2), "oci-daemon-json")}` : ""}`;

  return `<h2 id="oci-registry">Registry</h2>
<p>A registry mirror of <code>${escapeHtml(mirror.registry)}</code> (upstream <code>${escapeHtml(mirror.upstream)}</code>). Any client reaches it by name as <code>${escapeHtml(`${host}/${mirror.name}/<repository>:<tag>`)}</code>${hub ? "; Docker Hub clients also without the prefix" : ""}; containerd by its <code>hosts.toml</code> (it sends <code>?ns=${escapeHtml(mirror.registry)}</code>).</p>
${presynced}

<h2 id="oci-docker">Docker</h2>
${hub ? dockerHub : dockerOther}
${hub && isInsecure(publicUrl) ? `<p>Or by name, without changing the daemon's mirrors (still needs <code>insecure-registries</code>):</p>\n${code(`docker pull ${byName}`, "oci-docker-pull-by-name")}` : ""}

<h2 id="oci-containerd">containerd</h2>
<p>In <code>${escapeHtml(certsDir)}/hosts.toml</code> (containerd reads it on every pull; no restart):</p>
${code(containerdHostsToml(mirror, publicUrl), "oci-hosts-toml")}
${code(`ctr images pull --hosts-dir /etc/containerd/certs.d ${mirror.registry}/${image}`, "oci-ctr-pull")}

<h2 id="oci-kubernetes">Kubernetes nodes</h2>
<p>On every node, point the CRI plugin at the <code>certs.d</code> directory once, put the <code>hosts.toml</code> above in <code>${escapeHtml(certsDir)}/</code>, then <code>systemctl restart containerd</code>. In <code>/etc/containerd/config.toml</code>, containerd 1.x:</p>
${code(`[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"`, "oci-k8s-containerd1")}
<p>containerd 2.x:</p>
${code(`[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "/etc/containerd/certs.d"`, "oci-k8s-containerd2")}
<p>Pods keep naming images as before (<code>${escapeHtml(`${mirror.registry}/${image}`)}</code>); kubelet pulls through this mirror.</p>

<h2 id="oci-podman">podman, buildah, CRI-O</h2>
<p>In <code>/etc/containers/registries.conf</code> (or <code>~/.config/containers/registries.conf</code>):</p>
${code(podmanRegistriesConf(mirror, publicUrl), "oci-registries-conf")}
${code(`podman pull ${mirror.registry}/${image}`, "oci-podman-pull")}

<h2 id="oci-skopeo">skopeo</h2>
${code(`skopeo inspect${tlsFlag} docker://${byName}\nskopeo copy --all${tlsFlag ? ` --src-tls-verify=false` : ""} docker://${byName} oci:image:${image.split(":").pop()}`, "oci-skopeo")}

<h2 id="oci-workstation">A team GPU workstation</h2>
<p id="workstation-recipe">A PyTorch + CUDA image with JupyterLab and SSH, built from this server's mirrors (its base pulled through here, torch from the PyTorch mirror) and rebuilt by a <code>release.new</code> hook when PyTorch publishes: <a href="/static/workstation/">the recipe</a> (Containerfile, <code>build.sh</code>, <code>compose.yaml</code>, README).</p>`;
}
