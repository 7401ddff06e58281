// Runs the real freshmirror CLI as a child process (compiled under dist/, or from source through
// tsx), with a config written to a temp dir: what an operator runs, nothing mocked.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { repoRoot } from "./repo-root.js";

const fromDist = fileURLToPath(import.meta.url).includes(`${join("dist", "test")}`);

/** argv that starts the CLI: `node dist/src/cli/main.js` or `node --import tsx src/cli/main.ts`. */
export function cliArgv(): string[] {
  return fromDist
    ? ["--enable-source-maps", join(repoRoot(), "dist", "src", "cli", "main.js")]
    : ["--import", "tsx", join(repoRoot(), "src", "cli", "main.ts")];
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface MirrorWorkspace {
  dir: string;
  dataDir: string;
  configPath: string;
  /** Rewrites the config file (data_dir is filled in). */
  writeConfig(config: Record<string, unknown>): void;
  cli(args: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** Starts a CLI command without waiting (for kill tests). */
  spawnCli(args: string[]): ChildProcess;
  serve(): Promise<RunningServe>;
  cleanup(): Promise<void>;
}

export interface RunningServe {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function createWorkspace(config: Record<string, unknown>, dataDir?: string): MirrorWorkspace {
  const dir = mkdtempSync(join(tmpdir(), "fm-it-"));
  const data = dataDir ?? join(dir, "data");
  const configPath = join(dir, "freshmirror.yaml");
  const servers: RunningServe[] = [];
  const env = () => {
    const e: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith("FRESHMIRROR_")) e[k] = v;
    return e;
  };
  const workspace: MirrorWorkspace = {
    dir,
    dataDir: data,
    configPath,
    writeConfig(next) {
      writeFileSync(configPath, stringify({ listen: "127.0.0.1:0", data_dir: data, ...next }));
    },
    spawnCli(args) {
      return spawn(process.execPath, [...cliArgv(), ...args, "--config", configPath], {
        cwd: dir,
        env: env(),
        stdio: ["ignore", "pipe", "pipe"],
      });
    },
    cli(args, options = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [...cliArgv(), ...args, "--config", configPath], {
          cwd: dir,
          env: { ...env(), ...options.env },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => {
          stdout += c.toString();
        });
        child.stderr.on("data", (c: Buffer) => {
          stderr += c.toString();
        });
        const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
        child.on("error", reject);
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, stdout, stderr });
        });
      });
    },
    async serve() {
      const child = spawn(process.execPath, [...cliArgv(), "serve", "--config", configPath], {
        cwd: dir,
        env: env(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000);
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          const match = /serving .* on (http:\/\/[^\s]+)/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(match[1] as string);
          }
        };
        child.stdout?.on("data", onData);
        child.stderr?.on("data", onData);
        child.on("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`serve exited with ${code}:\n${output}`));
        });
      });
      const running: RunningServe = {
        url,
        child,
        output: () => output,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      };
      servers.push(running);
      return running;
    },
    async cleanup() {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  workspace.writeConfig(config);
  return workspace;
}
