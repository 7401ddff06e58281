// deploy/kubernetes: the manifests agree with each other and with freshmirror (ports, probe
// paths, volumes, names, labels), and the ConfigMap's config is one freshmirror accepts.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { parseConfigText } from "../../src/app/load-config.js";
import { repoRoot } from "../helpers/repo-root.js";

const DIR = join(repoRoot(), "deploy", "kubernetes");

// Only the fields the checks read; everything else in the manifests passes through untyped.
interface Probe {
  httpGet?: { path?: string; port?: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
}
interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  configMap?: { name: string };
  emptyDir?: object;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  resources?: string[];
}

function load(file: string): Manifest[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), "utf8"));
  return docs.map((doc) => {
    assert.deepEqual(doc.errors, [], file);
    return doc.toJS() as Manifest;
  });
}

function manifests(): Manifest[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .flatMap(load);
}

function one(kind: string): Manifest {
  const found = manifests().filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Manifest;
}

test("kustomization.yaml lists every manifest in deploy/kubernetes", () => {
  const [kustomization] = load("kustomization.yaml");
  const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  assert.deepEqual([...(kustomization?.resources ?? [])].sort(), files.sort());
  for (const m of manifests()) assert.ok(m.apiVersion && m.kind && m.metadata?.name, JSON.stringify(m));
});

test("the Deployment, Service, PVC and ConfigMap agree on ports, probes, volumes and names", () => {
  const deployment = one("Deployment");
  const service = one("Service");
  const pvc = one("PersistentVolumeClaim");
  const configMap = one("ConfigMap");
  const spec = deployment.spec as {
    replicas: number;
    strategy: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: Container[]; volumes: Volume[]; securityContext: Record<string, unknown> };
    };
  };
  // One writer of SQLite and the blobs: one replica, and never two pods at once on the volume.
  assert.equal(spec.replicas, 1);
  assert.equal(spec.strategy.type, "Recreate");
  assert.deepEqual((pvc.spec as { accessModes: string[] }).accessModes, ["ReadWriteOnce"]);

  const podLabels = spec.template.metadata.labels;
  for (const [k, v] of Object.entries(spec.selector.matchLabels))
    assert.equal(podLabels[k], v, `selector ${k}`);
  const serviceSpec = service.spec as {
    selector: Record<string, string>;
    ports: { port: number; targetPort: string | number }[];
  };
  for (const [k, v] of Object.entries(serviceSpec.selector))
    assert.equal(podLabels[k], v, `service selector ${k}`);

  assert.equal(spec.template.spec.containers.length, 1);
  const container = spec.template.spec.containers[0] as Container;
  assert.deepEqual(container.args, ["serve"]);
  const ports = container.ports ?? [];
  const portOf = (ref: string | number | undefined) =>
    typeof ref === "number" ? ref : ports.find((p) => p.name === ref)?.containerPort;

  // The port the config listens on is the container's, the Service's target and the probes'.
  const text = configMap.data?.["freshmirror.yaml"];
  assert.ok(text, "the ConfigMap holds freshmirror.yaml");
  const config = parseConfigText(text, "configmap.yaml", {});
  assert.equal(ports.length, 1);
  assert.equal(ports[0]?.containerPort, config.listen.port);
  assert.equal(config.listen.host, "0.0.0.0", "reachable from the kubelet and the Service");
  for (const p of serviceSpec.ports)
    assert.equal(portOf(p.targetPort), config.listen.port, "service targetPort");
  for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
    assert.equal(probe?.httpGet?.path, "/healthz");
    assert.equal(portOf(probe?.httpGet?.port), config.listen.port);
  }

  // Volumes: the PVC at the data directory, the ConfigMap where FRESHMIRROR_CONFIG points.
  const env = new Map((container.env ?? []).map((e) => [e.name, e.value]));
  const mounts = container.volumeMounts ?? [];
  const volumes = spec.template.spec.volumes;
  for (const mount of mounts)
    assert.ok(
      volumes.some((v) => v.name === mount.name),
      `volume ${mount.name}`,
    );
  const mountOf = (pick: (v: Volume) => boolean) => {
    const volume = volumes.find(pick);
    assert.ok(volume);
    return mounts.find((m) => m.name === volume.name);
  };
  const dataMount = mountOf((v) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
  assert.equal(dataMount?.mountPath, env.get("FRESHMIRROR_DATA_DIR"));
  assert.equal(dataMount?.mountPath, config.dataDir);
  assert.notEqual(dataMount?.readOnly, true);
  const configMount = mountOf((v) => v.configMap?.name === configMap.metadata.name);
  assert.equal(configMount?.readOnly, true);
  assert.equal(`${configMount?.mountPath}/freshmirror.yaml`, env.get("FRESHMIRROR_CONFIG"));

  // Non-root with the image's uid, nothing writable but the volumes.
  assert.equal(spec.template.spec.securityContext.runAsNonRoot, true);
  assert.equal(spec.template.spec.securityContext.runAsUser, 1000);
  assert.equal(spec.template.spec.securityContext.fsGroup, 1000);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
});

test("the ports and paths the manifests use are the Containerfile's", () => {
  const containerfile = readFileSync(join(repoRoot(), "Containerfile"), "utf8");
  assert.match(containerfile, /^EXPOSE 8080$/m);
  assert.match(containerfile, /^VOLUME \["\/data"\]$/m);
  assert.match(containerfile, /^USER 1000:1000$/m);
  assert.match(containerfile, /FRESHMIRROR_DATA_DIR=\/data/);
  assert.match(containerfile, /^HEALTHCHECK [^\n]*\n[^\n]*127\.0\.0\.1:8080\/healthz/m);
});
