import assert from "node:assert/strict";
import { test } from "node:test";
import {
  containerdHostsToml,
  dockerDaemonJson,
  exampleImage,
  type OciHelpMirror,
  podmanRegistriesConf,
  renderOciHelp,
} from "./help-section.js";

const hub: OciHelpMirror = {
  name: "dockerhub",
  registry: "docker.io",
  upstream: "https://registry-1.docker.io",
  images: [
    {
      repository: "pytorch/pytorch",
      tags: ["/cuda12\\.8-cudnn9-runtime$/", "2.9.0-cuda12.8-cudnn9-runtime"],
    },
  ],
  platforms: ["linux/amd64"],
};
const ghcr: OciHelpMirror = {
  name: "ghcr",
  registry: "ghcr.io",
  upstream: "https://ghcr.io",
  images: [],
  platforms: [],
};

test("Docker Hub: daemon.json registry-mirrors with insecure-registries only for plain http off loopback", () => {
  assert.deepEqual(JSON.parse(dockerDaemonJson("https://m.example")), {
    "registry-mirrors": ["https://m.example"],
  });
  assert.deepEqual(JSON.parse(dockerDaemonJson("http://m.lan:5000")), {
    "registry-mirrors": ["http://m.lan:5000"],
    "insecure-registries": ["m.lan:5000"],
  });
  assert.deepEqual(JSON.parse(dockerDaemonJson("http://127.0.0.1:5000")), {
    "registry-mirrors": ["http://127.0.0.1:5000"],
  });
  const html = renderOciHelp(hub, "http://m.lan:5000");
  assert.ok(html.includes("docker pull pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime"));
  assert.ok(html.includes("docker pull m.lan:5000/dockerhub/pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime"));
  assert.ok(html.includes("<code>linux/amd64</code>"), "the platforms fetched ahead are shown");
  assert.ok(html.includes("&#34;registry-mirrors&#34;"), "snippets are escaped");
});

test("other registries: pulled by name, containerd hosts.toml under the registry's name, podman mirror with a path", () => {
  assert.equal(
    containerdHostsToml(ghcr, "http://m.lan:5000"),
    'server = "https://ghcr.io"\n\n[host."http://m.lan:5000"]\n  capabilities = ["pull", "resolve"]',
  );
  assert.match(containerdHostsToml(hub, "https://m.example"), /^server = "https:\/\/registry-1\.docker\.io"/);
  assert.equal(
    podmanRegistriesConf(ghcr, "http://m.lan:5000"),
    '[[registry]]\nprefix = "ghcr.io"\nlocation = "ghcr.io"\n\n[[registry.mirror]]\nlocation = "m.lan:5000/ghcr"\ninsecure = true',
  );
  const html = renderOciHelp(ghcr, "https://m.example");
  assert.ok(html.includes("docker pull m.example/ghcr/org/image:tag"));
  assert.ok(
    !html.includes(`"registry-mirrors"`) && !html.includes("&#34;registry-mirrors"),
    "no daemon.json mirrors: Docker uses them for Docker Hub only",
  );
  assert.ok(html.includes("/etc/containerd/certs.d/ghcr.io/hosts.toml"));
  assert.ok(html.includes("skopeo inspect docker://m.example/ghcr/org/image:tag"));
  for (const id of [
    "oci-docker-pull",
    "oci-hosts-toml",
    "oci-ctr-pull",
    "oci-k8s-containerd1",
    "oci-k8s-containerd2",
    "oci-registries-conf",
    "oci-skopeo",
  ])
    assert.ok(html.includes(`id="${id}"`), id);
  assert.match(
    renderOciHelp(ghcr, "http://m.lan"),
    /skopeo inspect --tls-verify=false docker:\/\/m\.lan\/ghcr/,
  );
});

test("the example image: the first exact pre-synced tag, else a common one", () => {
  assert.equal(exampleImage(hub), "pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime");
  assert.equal(exampleImage({ ...hub, images: [] }), "library/alpine:latest");
  assert.equal(exampleImage({ ...ghcr, images: [{ repository: "a/b", tags: ["/x/"] }] }), "a/b:latest");
});
