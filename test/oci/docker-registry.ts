// Starts Debian's `docker-registry` (CNCF distribution 2.8) on a free loopback port with a temp
// storage directory and a generated config.yml (format: /etc/docker/registry/config.yml and
// https://distribution.github.io/distribution/about/configuration/). Optionally with token auth
// (a TokenServer from token-server.ts, as Docker Hub does) or as a pull-through proxy of another
// registry (`proxy.remoteurl`). Tests skip with `dockerRegistrySkipReason()` when it is missing.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { request } from "undici";
import type { TokenServer } from "./token-server.js";

export const DOCKER_REGISTRY_BIN = process.env.FRESHMIRROR_DOCKER_REGISTRY ?? "/usr/bin/docker-registry";

/** Why registry tests cannot run here, or undefined when they can. */
export function dockerRegistrySkipReason(): string | undefined {
  if (!existsSync(DOCKER_REGISTRY_BIN))
    return `${DOCKER_REGISTRY_BIN} not found (apt-get install docker-registry skopeo openssl)`;
  if (!existsSync("/usr/bin/skopeo")) return "skopeo not found (apt-get install skopeo)";
  if (!existsSync("/usr/bin/openssl")) return "openssl not found (apt-get install openssl)";
  return undefined;
}

export interface DockerRegistryOptions {
  /** Parent directory for storage and config. */
  dir: string;
  auth?: TokenServer;
  proxy?: { remoteUrl: string; username?: string; password?: string };
}

export interface DockerRegistry {
  url: string;
  host: string;
  port: number;
  /** The registry's process id (for memory figures). */
  pid: number;
  storageDir: string;
  /** What the registry printed (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function configYaml(port: number, storageDir: string, options: DockerRegistryOptions): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    // The debug server would take a second port; no test needs it.
  ];
  if (options.auth) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(options.auth.realm)}`,
      `    service: ${JSON.stringify(options.auth.service)}`,
      `    issuer: ${JSON.stringify(options.auth.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(options.auth.certPath)}`,
    );
  }
  if (options.proxy) {
    lines.push("proxy:", `  remoteurl: ${JSON.stringify(options.proxy.remoteUrl)}`);
    if (options.proxy.username !== undefined)
      lines.push(`  username: ${JSON.stringify(options.proxy.username)}`);
    if (options.proxy.password !== undefined)
      lines.push(`  password: ${JSON.stringify(options.proxy.password)}`);
  }
  return `${lines.join("\n")}\n`;
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`docker-registry exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await request(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`docker-registry did not answer on ${url} within 20 s:\n${output()}`);
}

export async function startDockerRegistry(options: DockerRegistryOptions): Promise<DockerRegistry> {
  const storageDir = join(options.dir, "storage");
  await mkdir(storageDir, { recursive: true });
  // A port found free may be taken before the registry binds it; try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const configPath = join(options.dir, "config.yml");
    await writeFile(configPath, configYaml(port, storageDir, options));
    const child = spawn(DOCKER_REGISTRY_BIN, ["serve", configPath], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (chunk: Buffer) => {
      out = (out + chunk.toString("utf8")).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitReady(url, child, () => out);
    } catch (error) {
      child.kill("SIGKILL");
      await exited;
      if (attempt < 2 && /address already in use/.test(out)) continue;
      throw error;
    }
    return {
      url,
      host: `127.0.0.1:${port}`,
      port,
      pid: child.pid as number,
      storageDir,
      output: () => out,
      stop: async () => {
        if (child.exitCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
}
