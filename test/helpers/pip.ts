// Runs the real pip for integration tests, isolated from this machine's pip set-up: its config
// files add find-links, extra indexes and constraints, and PIP_* variables add more. Tests must
// see only the indexes they name.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PipResult {
  /** Exit code; -1 when killed by a signal or the timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunPipOptions {
  cwd?: string;
  /** Added after `pipEnv()`. */
  env?: Record<string, string>;
  /** Default 120 s; pip is killed after it. */
  timeoutMs?: number;
  /** Python interpreter; default `python3`. */
  python?: string;
}

const PROXY_VARIABLES = ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"];

/**
 * The environment for pip: every `PIP_*` variable removed, no config file (`/dev/null` makes pip
 * skip the global, user and site files too), no version check, no prompts, and no proxy so
 * requests to 127.0.0.1 go straight there.
 */
export function pipEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.toUpperCase().startsWith("PIP_") || PROXY_VARIABLES.includes(key))
      continue;
    env[key] = value;
  }
  env.PIP_CONFIG_FILE = "/dev/null";
  env.PIP_DISABLE_PIP_VERSION_CHECK = "1";
  env.PIP_NO_INPUT = "1";
  env.PIP_ROOT_USER_ACTION = "ignore";
  env.NO_PROXY = "127.0.0.1,localhost";
  env.PYTHONDONTWRITEBYTECODE = "1";
  return env;
}

/** Runs `python3 -m pip --no-cache-dir <args>`. */
export function runPip(args: readonly string[], options: RunPipOptions = {}): Promise<PipResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.python ?? "python3", ["-m", "pip", "--no-cache-dir", ...args], {
      cwd: options.cwd,
      env: { ...pipEnv(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      });
    });
  });
}

/** Whether `python3 -m pip` runs here at all (tests skip otherwise). */
export async function pipAvailable(python = "python3"): Promise<boolean> {
  try {
    return (await runPip(["--version"], { python, timeoutMs: 30_000 })).code === 0;
  } catch {
    return false;
  }
}

/**
 * `pip install --index-url <indexUrl> --target <a temp dir> <requirements>`, asserting success:
 * what landed in the target (its top-level names, sorted). The directory is removed afterwards.
 */
export async function pipInstallNames(indexUrl: string, requirements: readonly string[]): Promise<string[]> {
  const target = mkdtempSync(join(tmpdir(), "fm-pip-"));
  try {
    const pip = await runPip(["install", "--index-url", indexUrl, "--target", target, ...requirements]);
    assert.equal(pip.code, 0, pip.stderr);
    return readdirSync(target).sort();
  } finally {
    rmSync(target, { recursive: true, force: true });
  }
}
