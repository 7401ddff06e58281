// What the container-client launchers (dockerd.ts, containerd.ts, podman.ts) share: a daemon
// started with its output kept for failure messages, a stop that waits for the exit (SIGKILL
// after a grace period), removal of mounts a daemon left under its temp directory, and running
// a client command with a timeout and its stderr in the error.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface Daemon {
  child: ChildProcess;
  /** The last 40,000 characters the daemon printed. */
  output(): string;
  exited: Promise<void>;
}

export function spawnDaemon(command: string, args: string[], env?: NodeJS.ProcessEnv): Daemon {
  // detached: its own process group, so stopDaemon can reach the helpers it forked (containerd
  // shims, docker's managed containerd) and none of them outlive the test.
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: env ?? process.env,
    detached: true,
  });
  let out = "";
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString("utf8")).slice(-40_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (error) => {
      out += `\nspawn ${command}: ${error.message}`;
      resolve();
    });
  });
  return { child, output: () => out, exited };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

/** SIGTERM to the daemon, SIGKILL to its whole process group after `graceMs`, then wait. */
export async function stopDaemon(daemon: Daemon, graceMs = 10_000): Promise<void> {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill("SIGTERM");
    const timer = setTimeout(() => signalGroup(daemon.child, "SIGKILL"), graceMs);
    await daemon.exited;
    clearTimeout(timer);
  }
  // Helpers the daemon forked into its group (shims) go with it.
  signalGroup(daemon.child, "SIGKILL");
}

/** Unmounts (lazily, deepest first) every mount point at or under `dir`. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const points = mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    // mountinfo escapes spaces and such as octal; our temp dirs have none.
    .sort((a, b) => b.length - a.length);
  const failed: string[] = [];
  for (const point of points) {
    try {
      await exec("umount", ["-l", point]);
    } catch {
      failed.push(point);
    }
  }
  return failed;
}

/** Runs a client command; the error carries its stderr. */
export async function runClient(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(command, args, {
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 32 * 1024 * 1024,
    });
    return { stdout, stderr };
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${command} ${args.join(" ")} failed: ${e.stderr?.trim() || e.stdout?.trim() || e.message}`,
    );
  }
}

/** Polls `check` until it resolves true, the daemon exits, or `timeoutMs` passes. */
export async function waitForDaemon(
  name: string,
  daemon: Daemon,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null)
      throw new Error(
        `${name} exited (${daemon.child.exitCode ?? daemon.child.signalCode}):\n${daemon.output()}`,
      );
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} did not come up within ${timeoutMs / 1000} s:\n${daemon.output()}`);
}
