// Starts containerd (Debian package containerd) for a test with its own root, state and gRPC
// socket under a temp directory (a version 2 config.toml; the CRI plugin and the snapshotters
// that need special file systems are disabled), and writes a hosts directory
// (https://github.com/containerd/containerd/blob/main/docs/hosts.md) in which each named
// registry (`docker.io`, `ghcr.io`, ...) has a hosts.toml sending pull and resolve to a mirror
// URL. `ctr images pull --hosts-dir` then asks the mirror with `?ns=<registry>` on every request.
// The `server` of each hosts.toml is a closed loopback port, so a failing mirror never sends
// the test to the internet. Tests skip with `containerdSkipReason()` when containerd is missing.
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

export const CONTAINERD_BIN = process.env.FRESHMIRROR_CONTAINERD ?? "/usr/bin/containerd";
export const CTR_BIN = process.env.FRESHMIRROR_CTR ?? "/usr/bin/ctr";
// Pulls unpack into the native snapshotter: plain directories, no overlay mounts.
const SNAPSHOTTER = "native";
const NAMESPACE = "freshmirror-test";

/** Why containerd tests cannot run here, or undefined when they can. */
export function containerdSkipReason(): string | undefined {
  if (!existsSync(CONTAINERD_BIN)) return `${CONTAINERD_BIN} not found (apt-get install containerd)`;
  if (!existsSync(CTR_BIN)) return `${CTR_BIN} not found (apt-get install containerd)`;
  if (process.getuid?.() !== 0) return "containerd needs root";
  return undefined;
}

export interface ContainerdOptions {
  /** Temp directory (keep it short: the socket path must fit in 108 bytes); removed by stop(). */
  dir: string;
  /** Registry name as clients write it (`docker.io`, `ghcr.io`) -> mirror base URL. */
  mirrors: Record<string, string>;
}

export interface CtrImage {
  ref: string;
  /** The digest the reference resolved to (index or manifest). */
  digest: string;
}

export interface Containerd {
  address: string;
  hostsDir: string;
  ctr(args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** `ctr images pull --hosts-dir`, unpacked for this machine's platform unless `allPlatforms`. */
  pull(ref: string, options?: { allPlatforms?: boolean }): Promise<CtrImage>;
  output(): string;
  stop(): Promise<void>;
}

/** hosts.toml for one registry: the mirror for pull and resolve over plain HTTP. */
export function hostsToml(mirrorUrl: string): string {
  return [
    // Never reached while the mirror answers; a closed port if it does not.
    'server = "http://127.0.0.1:9"',
    "",
    `[host.${JSON.stringify(mirrorUrl)}]`,
    '  capabilities = ["pull", "resolve"]',
    "",
  ].join("\n");
}

function configToml(dir: string, address: string): string {
  return [
    "version = 2",
    `root = ${JSON.stringify(join(dir, "root"))}`,
    `state = ${JSON.stringify(join(dir, "state"))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt"]',
    "",
    "[grpc]",
    `  address = ${JSON.stringify(address)}`,
    "",
    "[ttrpc]",
    `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
    "",
    "[debug]",
    '  level = "debug"',
    "",
  ].join("\n");
}

export async function startContainerd(options: ContainerdOptions): Promise<Containerd> {
  const dir = options.dir;
  const hostsDir = join(dir, "hosts");
  await mkdir(hostsDir, { recursive: true });
  for (const [registry, url] of Object.entries(options.mirrors)) {
    await mkdir(join(hostsDir, registry), { recursive: true });
    await writeFile(join(hostsDir, registry, "hosts.toml"), hostsToml(url));
  }
  const address = join(dir, "c.sock");
  const configPath = join(dir, "config.toml");
  await writeFile(configPath, configToml(dir, address));
  const daemon: Daemon = spawnDaemon(CONTAINERD_BIN, ["--config", configPath]);
  const ctr = (args: string[], timeoutMs?: number) =>
    runClient(CTR_BIN, ["--address", address, "--namespace", NAMESPACE, ...args], {
      env: { ...process.env, HOME: dir },
      timeoutMs,
    });
  const stop = async () => {
    await stopDaemon(daemon, 10_000);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForDaemon("containerd", daemon, async () => {
      await ctr(["version"], 10_000);
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    address,
    hostsDir,
    ctr,
    output: daemon.output,
    stop,
    pull: async (ref, pullOptions = {}) => {
      const args = ["images", "pull", "--hosts-dir", hostsDir, "--snapshotter", SNAPSHOTTER];
      if (pullOptions.allPlatforms) args.push("--all-platforms");
      await ctr([...args, ref], 600_000);
      const { stdout } = await ctr(["images", "ls"]);
      // Columns: REF TYPE DIGEST SIZE PLATFORMS LABELS
      for (const line of stdout.split("\n").slice(1)) {
        const [name, , digest] = line.trim().split(/\s+/);
        if (name === ref && digest) return { ref, digest };
      }
      throw new Error(`ctr images ls does not list ${ref}:\n${stdout}`);
    },
  };
}
