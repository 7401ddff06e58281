// Starts a private nginx (one worker, sendfile on, access log off) on 127.0.0.1 with a config
// generated into a temp prefix, as the reference each benchmark compares freshmirror with.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NGINX_BIN = process.env.NGINX ?? "/usr/sbin/nginx";

export interface NginxOptions {
  /** Document root. */
  root: string;
  /** Extra directives inside `http { }` (before the server block). */
  httpExtra?: string;
  /** Extra directives inside `server { }`. */
  serverExtra?: string;
}

export interface RunningNginx {
  url: string;
  /** The master process. */
  pid: number;
  /** The one worker process (it does the serving). */
  workerPid(): number | undefined;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (nginx cannot be told to listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function nginxVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(NGINX_BIN, ["-v"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", () => resolve("not found"));
    child.on("close", () => resolve(out.trim().replace(/^nginx version:\s*/, "")));
  });
}

export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), "fm-bench-nginx-"));
  mkdirSync(join(prefix, "tmp"));
  const port = await freePort();
  // As root, workers would drop to `nobody`, which cannot read our 0700 temp dirs.
  const user = process.getuid?.() === 0 ? "user root;" : "";
  const conf = `${user}
worker_processes 1;
error_log ${prefix}/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 10000000;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  default_type application/octet-stream;
  ${options.httpExtra ?? ""}
  server {
    listen 127.0.0.1:${port};
    root ${options.root};
    ${options.serverExtra ?? ""}
  }
}
`;
  const confPath = join(prefix, "nginx.conf");
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(NGINX_BIN, ["-c", confPath, "-p", prefix, "-g", "daemon off;"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Ready when it answers; give up if it exits or takes more than 10 s.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      let log = "";
      try {
        log = readFileSync(join(prefix, "error.log"), "utf8");
      } catch {
        // no log written
      }
      rmSync(prefix, { recursive: true, force: true });
      throw new Error(`nginx exited with ${child.exitCode}:\n${stderr}\n${log}`);
    }
    try {
      await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.arrayBuffer());
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await exited;
        rmSync(prefix, { recursive: true, force: true });
        throw new Error(`nginx did not answer on ${url}:\n${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const pid = child.pid as number;
  return {
    url,
    pid,
    workerPid() {
      try {
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
        const first = Number(children[0]);
        return Number.isInteger(first) && first > 0 ? first : undefined;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGQUIT is nginx's graceful stop; SIGTERM its fast one, which is what we want.
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
