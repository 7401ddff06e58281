// A dockerd of the test's own, to check that `docker build` builds the workstation Containerfile:
// Debian's dockerd (package docker.io) with its own data root, exec root, pid file and unix socket
// under a temp directory, vfs storage (no overlay mounts), no iptables and no bridge (builds use
// `--network host` to reach the mirror on loopback). Registries on 127.0.0.0/8 are plain-http
// ones to Docker by default. Stopped by its process id; what it mounted under its directory is
// unmounted before the directory is removed.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runLogged } from "./workstation-base.js";

export const DOCKERD_BIN = process.env.FRESHMIRROR_DOCKERD ?? "/usr/sbin/dockerd";
// Debian's CLI, matched to Debian's daemon (another docker CLI may come first on PATH).
export const DOCKER_BIN = process.env.FRESHMIRROR_DOCKER ?? "/usr/bin/docker";

/** Why `docker build` cannot be tested here, or undefined when it can. */
export function buildDockerdSkipReason(): string | undefined {
  if (!existsSync(DOCKERD_BIN)) return `${DOCKERD_BIN} not found (apt-get install docker.io)`;
  if (!existsSync(DOCKER_BIN)) return `${DOCKER_BIN} not found (apt-get install docker.io)`;
  if (process.getuid?.() !== 0) return "dockerd needs root";
  return undefined;
}

export interface BuildDockerd {
  /** `unix://...`, for DOCKER_HOST. */
  host: string;
  docker(
    args: string[],
    options?: { allowFailure?: boolean; timeoutMs?: number },
  ): ReturnType<typeof runLogged>;
  output(): string;
  stop(): Promise<void>;
}

async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((path) => path === dir || path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const path of mounts) await runLogged("umount", ["-l", path], { allowFailure: true });
}

export async function startBuildDockerd(dir: string): Promise<BuildDockerd> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, "daemon.json");
  await writeFile(
    config,
    JSON.stringify({
      "storage-driver": "vfs",
      iptables: false,
      ip6tables: false,
      "ip-forward": false,
      "ip-masq": false,
      bridge: "none",
    }),
  );
  const host = `unix://${join(dir, "docker.sock")}`;
  const child: ChildProcess = spawn(
    DOCKERD_BIN,
    [
      "--config-file",
      config,
      "--data-root",
      join(dir, "data"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "docker.pid"),
      "-H",
      host,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString("utf8")).slice(-50_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const docker: BuildDockerd["docker"] = (args, options = {}) =>
    runLogged(DOCKER_BIN, args, { env: { DOCKER_HOST: host }, ...options });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    }
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`dockerd exited with ${child.exitCode}:\n${out.slice(-4000)}`);
    }
    if ((await docker(["info"], { allowFailure: true, timeoutMs: 10_000 })).code === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer within 60 s:\n${out.slice(-4000)}`);
    }
    await sleep(500);
  }
  return { host, docker, output: () => out, stop };
}
