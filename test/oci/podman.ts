// Runs podman (Debian package podman) for a test with storage, run state, containers.conf,
// registries.conf and signature policy of its own under a temp directory, so the machine's
// /etc/containers and /var/lib/containers do not matter. registries.conf
// (https://github.com/containers/image/blob/main/docs/containers-registries.conf.5.md) gives each
// registry prefix (`docker.io`, `ghcr.io`) a `[[registry.mirror]]` whose location may carry a
// path: `127.0.0.1:PORT/docker.io` turns `docker.io/library/x:tag` into a pull of
// `127.0.0.1:PORT/docker.io/library/x:tag` (freshmirror's `/v2/<mirror>/<name>/...` route).
// The registry's own location is a closed loopback port, so a failing mirror never sends the test
// to the internet. Tests skip with `podmanSkipReason()` when podman is missing.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runClient, unmountUnder } from "./daemon-process.js";

export const PODMAN_BIN = process.env.FRESHMIRROR_PODMAN ?? "/usr/bin/podman";

/** Why podman tests cannot run here, or undefined when they can. */
export function podmanSkipReason(): string | undefined {
  if (!existsSync(PODMAN_BIN)) return `${PODMAN_BIN} not found (apt-get install podman)`;
  if (process.getuid?.() !== 0) return "podman with an isolated root storage needs root";
  return undefined;
}

export interface PodmanOptions {
  /** Temp directory for storage and configuration; removed by cleanup(). */
  dir: string;
  /** Registry prefix (`docker.io`, `ghcr.io`) -> mirror location, host:port[/path]. */
  mirrors: Record<string, string>;
}

export interface PodmanImage {
  /** The image ID (config digest, without `sha256:`). */
  id: string;
  /** The digest podman recorded for the pulled reference. */
  digest: string;
  repoDigests: string[];
}

export interface Podman {
  registriesConf: string;
  podman(args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  pull(ref: string): Promise<PodmanImage>;
  cleanup(): Promise<void>;
}

export function registriesConf(mirrors: Record<string, string>): string {
  const lines = ["unqualified-search-registries = []", ""];
  for (const [prefix, location] of Object.entries(mirrors)) {
    lines.push(
      "[[registry]]",
      `prefix = ${JSON.stringify(prefix)}`,
      'location = "127.0.0.1:9"',
      "insecure = true",
      "",
      "[[registry.mirror]]",
      `location = ${JSON.stringify(location)}`,
      "insecure = true",
      "",
    );
  }
  return lines.join("\n");
}

export async function preparePodman(options: PodmanOptions): Promise<Podman> {
  const dir = options.dir;
  const root = join(dir, "root");
  const runroot = join(dir, "run");
  const tmp = join(dir, "tmp");
  for (const d of [root, runroot, tmp]) await mkdir(d, { recursive: true });
  const registriesPath = join(dir, "registries.conf");
  await writeFile(registriesPath, registriesConf(options.mirrors));
  const policyPath = join(dir, "policy.json");
  await writeFile(policyPath, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  const storagePath = join(dir, "storage.conf");
  await writeFile(
    storagePath,
    `[storage]\ndriver = "vfs"\ngraphroot = ${JSON.stringify(root)}\nrunroot = ${JSON.stringify(runroot)}\n`,
  );
  const containersConf = join(dir, "containers.conf");
  await writeFile(containersConf, '[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    XDG_RUNTIME_DIR: runroot,
    XDG_CONFIG_HOME: join(dir, "config"),
    TMPDIR: tmp,
    CONTAINERS_REGISTRIES_CONF: registriesPath,
    CONTAINERS_STORAGE_CONF: storagePath,
    CONTAINERS_CONF: containersConf,
  };
  delete env.CONTAINER_HOST;
  delete env.REGISTRY_AUTH_FILE;
  const podman = (args: string[], timeoutMs?: number) =>
    runClient(
      PODMAN_BIN,
      [
        "--root",
        root,
        "--runroot",
        runroot,
        "--storage-driver",
        "vfs",
        "--tmpdir",
        tmp,
        "--events-backend",
        "none",
        "--cgroup-manager",
        "cgroupfs",
        ...args,
      ],
      { env, timeoutMs },
    );
  return {
    registriesConf: registriesPath,
    podman,
    pull: async (ref) => {
      await podman(["pull", "--quiet", "--signature-policy", policyPath, ref], 600_000);
      const { stdout } = await podman(["image", "inspect", "--format", "{{json .}}", ref]);
      const parsed = JSON.parse(stdout) as
        | { Id: string; Digest: string; RepoDigests: string[] | null }
        | { Id: string; Digest: string; RepoDigests: string[] | null }[];
      const image = Array.isArray(parsed) ? parsed[0] : parsed;
      if (!image) throw new Error(`podman image inspect ${ref} returned nothing`);
      return { id: image.Id, digest: image.Digest, repoDigests: image.RepoDigests ?? [] };
    },
    cleanup: async () => {
      // vfs needs no mounts, but podman may leave its runroot's shm or netns mounted.
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
