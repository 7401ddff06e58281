// Starts Debian's dockerd (package docker.io) for a test, isolated from any docker on the machine:
// its own --data-root, --exec-root, --pidfile and unix socket under a temp directory, and a
// daemon.json (https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file) with vfs
// storage (works on any file system, no overlay mounts), no iptables and no bridge (no network
// set-up needed to pull), `registry-mirrors` pointing at the mirror under test and the mirror in
// `insecure-registries` (plain HTTP on loopback). `docker pull library/x:tag` (or `x:tag`) then
// asks the first mirror with no `ns` parameter, as Docker Hub pulls do everywhere.
// Tests skip with `dockerdSkipReason()` when dockerd or the docker CLI is missing or not root.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type Daemon,
  runClient,
  spawnDaemon,
  stopDaemon,
  unmountUnder,
  waitForDaemon,
} from "./daemon-process.js";

export const DOCKERD_BIN = process.env.FRESHMIRROR_DOCKERD ?? "/usr/sbin/dockerd";
// Debian's CLI, matched to Debian's daemon (another docker CLI may sit earlier on PATH).
export const DOCKER_BIN = process.env.FRESHMIRROR_DOCKER ?? "/usr/bin/docker";

/** Why dockerd tests cannot run here, or undefined when they can. */
export function dockerdSkipReason(): string | undefined {
  if (!existsSync(DOCKERD_BIN)) return `${DOCKERD_BIN} not found (apt-get install docker.io)`;
  if (!existsSync(DOCKER_BIN)) return `${DOCKER_BIN} not found (apt-get install docker.io)`;
  if (process.getuid?.() !== 0) return "dockerd needs root";
  return undefined;
}

export interface DockerdOptions {
  /** Temp directory for the data root, exec root, socket and daemon.json; removed by stop(). */
  dir: string;
  /** Base URLs for `registry-mirrors`, e.g. `http://127.0.0.1:5000`; none for a daemon that only builds. */
  registryMirrors: string[];
  /** host:port entries for `insecure-registries` (the mirrors' hosts are added). */
  insecureRegistries?: string[];
}

export interface PulledImage {
  /** What `docker pull` printed as `Digest:` (the digest of the manifest or index the tag names). */
  digest: string;
  /** The image ID: the digest of the image config. */
  id: string;
  repoDigests: string[];
}

export interface Dockerd {
  socket: string;
  /** `unix://<socket>`, for DOCKER_HOST (a script that runs the docker CLI itself). */
  host: string;
  /** Runs the docker CLI against this daemon. */
  docker(args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  pull(ref: string): Promise<PulledImage>;
  output(): string;
  stop(): Promise<void>;
}

export async function startDockerd(options: DockerdOptions): Promise<Dockerd> {
  const dir = options.dir;
  await mkdir(dir, { recursive: true });
  const socket = join(dir, "docker.sock");
  const configPath = join(dir, "daemon.json");
  const mirrorHosts = options.registryMirrors.map((url) => new URL(url).host);
  await writeFile(
    configPath,
    JSON.stringify(
      {
        "storage-driver": "vfs",
        iptables: false,
        ip6tables: false,
        "ip-forward": false,
        "ip-masq": false,
        bridge: "none",
        "registry-mirrors": options.registryMirrors,
        "insecure-registries": [...new Set([...mirrorHosts, ...(options.insecureRegistries ?? [])])],
        // Pulls get logged at debug level: what failure messages need.
        debug: true,
      },
      null,
      2,
    ),
  );
  // dockerd goes to Docker Hub itself when a mirror fails; a proxy on a closed loopback port
  // makes that fail at once instead of reaching the internet.
  const daemonEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HTTP_PROXY: "http://127.0.0.1:9",
    HTTPS_PROXY: "http://127.0.0.1:9",
    NO_PROXY: "127.0.0.1,localhost",
  };
  for (const name of ["http_proxy", "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy"])
    delete daemonEnv[name];
  const daemon: Daemon = spawnDaemon(
    DOCKERD_BIN,
    [
      "--config-file",
      configPath,
      "--data-root",
      join(dir, "data"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "docker.pid"),
      "-H",
      `unix://${socket}`,
    ],
    daemonEnv,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, DOCKER_CONFIG: join(dir, "client-config") };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  const docker = (args: string[], timeoutMs?: number) =>
    runClient(DOCKER_BIN, ["-H", `unix://${socket}`, ...args], { env, timeoutMs });
  const stop = async () => {
    await stopDaemon(daemon, 15_000);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForDaemon("dockerd", daemon, async () => {
      await docker(["info", "--format", "{{.ServerVersion}}"], 10_000);
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    socket,
    host: `unix://${socket}`,
    docker,
    output: daemon.output,
    stop,
    pull: async (ref) => {
      const { stdout } = await docker(["pull", ref], 600_000);
      const digest = /^Digest: (sha256:[0-9a-f]{64})$/m.exec(stdout)?.[1];
      if (!digest) throw new Error(`docker pull ${ref} printed no digest:\n${stdout}`);
      const inspected = await docker(["image", "inspect", "--format", "{{json .}}", ref]);
      const image = JSON.parse(inspected.stdout) as { Id: string; RepoDigests: string[] | null };
      return { digest, id: image.Id, repoDigests: image.RepoDigests ?? [] };
    },
  };
}
