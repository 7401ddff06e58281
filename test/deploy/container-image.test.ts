// freshmirror's own image (Containerfile): built with buildah as a user would (multi-stage,
// `npm ci` inside), then `freshmirror --help` and the server run inside it as uid 1000 with its
// /data volume, answering /healthz, and the image's own HEALTHCHECK command passing.
// Offline: the base is made from this machine's node (see buildah.ts).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { repoRoot } from "../helpers/repo-root.js";
import { until } from "../helpers/until.js";
import { BUILDAH, Buildah, buildahSkipReason, buildLocalNodeImage, offlineNpmCache } from "./buildah.js";

const skip = buildahSkipReason();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface ImageConfig {
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Healthcheck?: { Test?: string[] };
}

test("the Containerfile builds offline with buildah and runs freshmirror as uid 1000 on /data", {
  skip,
  timeout: 40 * 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-image-"));
  const buildah = new Buildah(dir);
  let server: ChildProcess | undefined;
  after(() => {
    if (server?.pid !== undefined && server.exitCode === null) process.kill(-server.pid, "SIGKILL");
    buildah.removeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  buildLocalNodeImage(buildah, "localhost/freshmirror-test-node:20");
  const cache = offlineNpmCache(join(dir, "npm-cache"));
  buildah.run([
    "bud",
    "--isolation",
    "chroot",
    "--format",
    "docker",
    "--build-arg",
    "NODE_IMAGE=localhost/freshmirror-test-node:20",
    // npm must find everything in the cache; anything it would fetch fails at a closed port.
    "--env",
    "npm_config_offline=true",
    "--env",
    "npm_config_proxy=http://127.0.0.1:9",
    "--env",
    "npm_config_https_proxy=http://127.0.0.1:9",
    "--volume",
    `${cache}:/root/.npm`,
    "-t",
    "localhost/freshmirror:test",
    repoRoot(),
  ]);

  const inspected = JSON.parse(buildah.run(["inspect", "--type", "image", "localhost/freshmirror:test"])) as {
    Docker?: { config?: ImageConfig };
  };
  const config = inspected.Docker?.config ?? {};
  assert.equal(config.User, "1000:1000");
  assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ["8080/tcp"]);
  assert.deepEqual(Object.keys(config.Volumes ?? {}), ["/data"]);
  assert.ok(config.Env?.includes("FRESHMIRROR_DATA_DIR=/data"), JSON.stringify(config.Env));
  assert.deepEqual(config.Cmd, ["serve"]);
  const healthcheck = config.Healthcheck?.Test ?? [];
  assert.equal(healthcheck[0], "CMD");
  assert.match(healthcheck.join(" "), /http:\/\/127\.0\.0\.1:8080\/healthz/);

  const container = buildah.run(["from", "localhost/freshmirror:test"]).trim().split("\n").at(-1) as string;
  const help = buildah.run(["run", "--isolation", "chroot", container, "--", "freshmirror", "--help"]);
  assert.match(help, /Usage: freshmirror <command>/);
  const uid = buildah.run([
    "run",
    "--isolation",
    "chroot",
    container,
    "--",
    "node",
    "-p",
    "process.getuid()",
  ]);
  assert.equal(uid.trim(), "1000", "runs as uid 1000");

  // The server, as the image runs it (uid 1000, data in the /data volume), on a free loopback
  // port: chroot isolation shares this machine's network.
  const port = await freePort();
  const configDir = join(dir, "config");
  const dataDir = join(dir, "data");
  mkdirSync(configDir);
  mkdirSync(dataDir);
  chownSync(dataDir, 1000, 1000);
  writeFileSync(
    join(configDir, "freshmirror.yaml"),
    `listen: 127.0.0.1:${port}\nmirrors:\n  pypi: { type: pypi, upstream: "http://127.0.0.1:9", indexes: [simple], mode: proxy }\n`,
  );
  let output = "";
  server = spawn(
    BUILDAH,
    buildah.argv([
      "run",
      "--isolation",
      "chroot",
      "--env",
      "FRESHMIRROR_CONFIG=/config/freshmirror.yaml",
      "--volume",
      `${configDir}:/config:ro`,
      "--volume",
      `${dataDir}:/data`,
      container,
      "--",
      "node",
      "/app/dist/src/cli/main.js",
      "serve",
    ]),
    { detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  server.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  server.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  await until(
    async () => {
      if (server?.exitCode !== null) assert.fail(`the server in the image exited:\n${output}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        return response.status === 200 && (await response.text()) === "ok\n";
      } catch {
        return false;
      }
    },
    "/healthz of the server in the image",
    120_000,
    250,
  );
  const state = join(dataDir, "state.sqlite");
  assert.ok(existsSync(state), `no state.sqlite in the /data volume:\n${output}`);
  assert.equal(statSync(state).uid, 1000);

  // The image's HEALTHCHECK command itself, pointed at this server's port.
  const probe = healthcheck.slice(1).map((part) => part.replace("127.0.0.1:8080", `127.0.0.1:${port}`));
  buildah.run(["run", "--isolation", "chroot", container, "--", ...probe]);
  assert.throws(
    () =>
      buildah.run([
        "run",
        "--isolation",
        "chroot",
        container,
        "--",
        ...probe.map((part) => part.replace("/healthz", "/no-such-page")),
      ]),
    /failed/,
    "the health check fails when the server does not answer 200",
  );

  process.kill(-(server.pid as number), "SIGTERM");
  await until(
    () => server?.exitCode !== null || server?.signalCode !== null,
    "the server to stop",
    60_000,
    100,
  );
});
