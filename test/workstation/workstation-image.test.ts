// The PyTorch-CUDA workstation recipe (images/pytorch-cuda/) with real parts: buildah (chroot
// isolation, vfs storage) builds the Containerfile on a small Debian base made by debootstrap
// (Python, pip, OpenSSH and Jupyter from Debian's packages, cached between runs) that sits in a
// local CNCF registry; torch, torchvision and torchaudio are the fixture upstream's wheels
// through freshmirror's PyPI mirror. End to end: freshmirror watches the upstream, a new torch
// is published, the `release.new` command hook runs build.sh, which builds the image and pushes
// it as <version>-cpu; `skopeo inspect` finds it. That one build then serves every check: the
// environment check inside the image, the entrypoint (Jupyter answers only with the token, SSH
// takes the test's key and refuses passwords) and the image's layers and history (no token,
// password, private key or SSH host key).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DeliveryLogEntry } from "../../src/events/hook-runner.js";
import { type PublishOptions, type PypiUpstream, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { repoRoot } from "../helpers/repo-root.js";
import { until } from "../helpers/until.js";
import { type DockerRegistry, startDockerRegistry } from "../oci/docker-registry.js";
import { DOCKER_BIN, dockerdSkipReason, startDockerd } from "../oci/dockerd.js";
import { readTar } from "./tar-entries.js";
import {
  type BuildahEnv,
  buildah,
  buildahEnv,
  debianBaseRootfs,
  pushBaseImage,
  runLogged,
  workstationSkipReason,
} from "./workstation-base.js";

const RECIPE = join(repoRoot(), "images", "pytorch-cuda");
const OLD_TORCH = "2.6.0";
const NEW_TORCH = "2.8.0";
const VARIANT = "cpu";
const IMAGE_REPO = "lab/pytorch-cuda";
const BASE_REPO = "debian/workstation-base";
const BASE_TAG = "bookworm";
const USER_UID = 1000;
/** A cold build on vfs storage copies the rootfs per step; a loaded machine takes its time. */
const BUILD_DEADLINE_MS = 25 * 60_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** torch, torchvision and torchaudio of one release, pure-Python stand-ins for cp311 x86_64 Linux. */
function torchRelease(torch: string, vision: string): PublishOptions[] {
  const tags = { pythonTag: "cp311", abiTag: "cp311", platformTag: "linux_x86_64" };
  const index = `whl/${VARIANT}`;
  return [
    {
      index,
      project: "torch",
      version: `${torch}+${VARIANT}`,
      ...tags,
      requiresPython: ">=3.9",
      dependencies: ["filelock", "typing-extensions>=4.8.0"],
      // What the environment check reads: this build is for the CPU, and there is no GPU here.
      extraFiles: {
        "torch/version.py": "cuda = None\n",
        "torch/cuda/__init__.py":
          "def is_available():\n    return False\n\n\ndef device_count():\n    return 0\n\n\ndef get_device_name(index=0):\n    raise RuntimeError('no CUDA device')\n",
      },
    },
    {
      index,
      project: "torchvision",
      version: `${vision}+${VARIANT}`,
      ...tags,
      dependencies: [`torch==${torch}`],
    },
    {
      index,
      project: "torchaudio",
      version: `${torch}+${VARIANT}`,
      ...tags,
      dependencies: [`torch==${torch}`],
    },
  ];
}

interface Started {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs the image's entrypoint in a container of the built image with `buildah run`, inside a PID
 * namespace of its own so that stopping it ends everything it started (sshd, Jupyter, kernels).
 */
function startContainer(
  be: BuildahEnv,
  ctr: string,
  argv: string[],
  env: Record<string, string>,
  volumes: string[],
): Started {
  const args = ["--pid", "--fork", "--kill-child", "--mount-proc", "buildah", "run"];
  for (const [key, value] of Object.entries(env)) args.push("--env", `${key}=${value}`);
  for (const volume of volumes) args.push("--volume", volume);
  args.push(ctr, "--", ...argv);
  const child = spawn("unshare", args, {
    env: { ...process.env, ...be.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString("utf8")).slice(-200_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The process running the entrypoint script among the descendants of `root` (in /proc). */
function entrypointPid(root: number): number | undefined {
  const parentOf = new Map<number, number>();
  const commandOf = new Map<number, string>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      commandOf.set(Number(name), readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" "));
    } catch {
      // gone meanwhile
    }
  }
  const isEntrypoint = (pid: number) => /\/workstation both/.test(commandOf.get(pid) ?? "");
  const descends = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p))
      if (p === root) return true;
    return false;
  };
  // The script itself, not one of its subshells (whose parent is the script).
  return [...commandOf.keys()].find(
    (pid) => isEntrypoint(pid) && descends(pid) && !isEntrypoint(parentOf.get(pid) ?? 0),
  );
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function ssh(keyFile: string, port: number, user: string, extra: string[], command: string[]) {
  return runLogged(
    "ssh",
    [
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "ConnectTimeout=20",
      "-i",
      keyFile,
      "-p",
      String(port),
      ...extra,
      `${user}@127.0.0.1`,
      ...command,
    ],
    { allowFailure: true, timeoutMs: 60_000 },
  );
}

describe("the pytorch-cuda workstation image, built by freshmirror's release hook", () => {
  let skipReason: string | undefined = workstationSkipReason();
  let dir: string;
  let be: BuildahEnv;
  let registry: DockerRegistry | undefined;
  let upstream: PypiUpstream | undefined;
  let ws: MirrorWorkspace | undefined;
  let server: RunningServe;
  let baseImage: string;
  let builtImage: string;
  let ctr: string | undefined;
  let buildFailure: string | undefined;
  /** Secrets the running checks used: none may be in the image. */
  const secrets: string[] = [];
  let hostKeyFiles: string[] = [];
  /** What the hook's build.sh runs with. */
  let hookEnv: Record<string, string> = {};

  const ready = (t: TestContext): boolean => {
    if (skipReason) t.skip(skipReason);
    return skipReason === undefined;
  };
  const built = (t: TestContext): boolean => {
    if (!ready(t)) return false;
    assert.equal(buildFailure, undefined, buildFailure);
    return true;
  };

  before(async () => {
    if (skipReason) return;
    dir = mkdtempSync(join(tmpdir(), "fm-workstation-"));
    const base = await debianBaseRootfs((line) => process.stderr.write(`# ${line}\n`));
    if (typeof base === "string") {
      skipReason = base;
      return;
    }
    be = await buildahEnv(join(dir, "buildah"));
    registry = await startDockerRegistry({ dir: join(dir, "registry") });
    // The base sits in the local registry; the build pulls it through freshmirror's OCI mirror.
    await pushBaseImage(be, base.tar, `${registry.host}/${BASE_REPO}:${BASE_TAG}`);
    builtImage = `${registry.host}/${IMAGE_REPO}:${NEW_TORCH}-${VARIANT}`;

    upstream = await startPypiUpstream({ indexes: [`whl/${VARIANT}`, "simple"] });
    await upstream.publishAll([
      { index: [`whl/${VARIANT}`, "simple"], project: "filelock", version: "3.13.1" },
      { index: [`whl/${VARIANT}`, "simple"], project: "typing-extensions", version: "4.15.0" },
      ...torchRelease(OLD_TORCH, "0.21.0"),
    ]);
    const port = await freePort();
    const mirrorUrl = `http://127.0.0.1:${port}`;
    baseImage = `127.0.0.1:${port}/images/${BASE_REPO}:${BASE_TAG}`;
    hookEnv = {
      ...be.env,
      REGISTRY: `${registry.host}/${IMAGE_REPO}`,
      MIRROR_URL: mirrorUrl,
      TORCH_VARIANT: VARIANT,
      BASE_IMAGE: baseImage,
      BUILDER: "buildah",
      TLS_VERIFY: "false",
    };
    ws = createWorkspace({});
    ws.writeConfig({
      listen: `127.0.0.1:${port}`,
      public_url: mirrorUrl,
      mirrors: {
        pytorch: {
          type: "pypi",
          upstream: upstream.url,
          indexes: [`whl/${VARIANT}`],
          projects: ["torch", "torchvision", "torchaudio", "filelock", "typing-extensions"],
          platforms: ["linux_x86_64", "manylinux*_x86_64"],
          python: ["cp311"],
          schedule: "0 3 1 1 *",
          watch: "1s",
          retry_backoff: "10ms",
        },
        pypi: { type: "pypi", upstream: upstream.url, indexes: ["simple"], mode: "proxy" },
        images: { type: "oci", upstream: registry.url, registry: "registry.lab.example" },
      },
      access_log: true,
      hooks: [
        {
          name: "build-workstation",
          on: "release.new",
          mirror: "pytorch",
          project: "torch",
          command: [join(RECIPE, "build.sh"), "{version}"],
          timeout: "30m",
          env: hookEnv,
        },
      ],
    });
    const sync = await ws.cli(["sync", "pytorch"]);
    assert.equal(sync.code, 0, `initial sync failed:\n${sync.stdout}\n${sync.stderr}`);
    server = await ws.serve();
    assert.equal(server.url, mirrorUrl);
  });

  after(async () => {
    if (ctr && be) await buildah(be, ["rm", ctr], true);
    await ws?.cleanup();
    await upstream?.close();
    await registry?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`a torch release published upstream is built by build.sh (the release.new hook) and pushed as ${NEW_TORCH}-${VARIANT}`, async (t) => {
    if (!ready(t) || !upstream || !ws || !registry) return;
    const hooksLog = join(ws.dataDir, "logs", "hooks.log");
    const publishedAt = Date.now();
    await upstream.publishAll(torchRelease(NEW_TORCH, "0.23.0"));
    const entry = await until(
      () => {
        if (!existsSync(hooksLog)) return undefined;
        return readFileSync(hooksLog, "utf8")
          .split("\n")
          .filter((line) => line.trim() !== "")
          .map((line) => JSON.parse(line) as DeliveryLogEntry)
          .find((e) => e.hook === "build-workstation");
      },
      "the build hook to finish",
      BUILD_DEADLINE_MS,
      1000,
    );
    t.diagnostic(
      `hook finished ${Math.round((Date.now() - publishedAt) / 1000)} s after the release (build ${Math.round(entry.durationMs / 1000)} s)`,
    );
    // The build's output is in the log of the sync run that found the release.
    const runLogs = readdirSync(join(ws.dataDir, "logs", "pytorch")).map((name) =>
      readFileSync(join(ws?.dataDir ?? "", "logs", "pytorch", name), "utf8"),
    );
    const runLog = runLogs.find((text) => text.includes("hook build-workstation")) ?? "";
    if (!entry.ok) buildFailure = `the build hook failed (${entry.error}):\n${runLog.slice(-6000)}`;
    assert.equal(entry.ok, true, buildFailure);
    assert.equal(entry.exitCode, 0);
    assert.match(
      runLog,
      new RegExp(`build\\.sh: building ${registry.host}/${IMAGE_REPO}:${NEW_TORCH}-${VARIANT} with buildah`),
    );
    assert.match(runLog, /build\.sh: done: .* pushed/);
    // The base came through freshmirror's OCI mirror: its manifest and its layer.
    const served = server
      .output()
      .split("\n")
      .filter((line) => line.includes(`/v2/images/${BASE_REPO}/`))
      .map((line) => JSON.parse(line) as { method: string; path: string; status: number });
    assert.ok(
      served.some((r) => r.method === "GET" && r.path.includes(`/manifests/${BASE_TAG}`) && r.status === 200),
      `the base's manifest through the mirror: ${JSON.stringify(served)}`,
    );
    assert.ok(
      served.some((r) => r.method === "GET" && r.path.includes("/blobs/sha256:") && r.status === 200),
      "the base's blobs through the mirror",
    );

    const inspected = await runLogged("skopeo", ["inspect", "--tls-verify=false", `docker://${builtImage}`], {
      env: { HOME: dir },
    });
    const info = JSON.parse(inspected.stdout) as { Labels: Record<string, string>; Architecture: string };
    assert.equal(info.Labels["org.freshmirror.torch.version"], NEW_TORCH);
    assert.equal(info.Labels["org.freshmirror.torch.variant"], VARIANT);
    const tags = JSON.parse(
      (
        await runLogged(
          "skopeo",
          ["list-tags", "--tls-verify=false", `docker://${registry.host}/${IMAGE_REPO}`],
          { env: { HOME: dir } },
        )
      ).stdout,
    ) as { Tags: string[] };
    assert.deepEqual(
      tags.Tags,
      [`${NEW_TORCH}-${VARIANT}`],
      "the first import (2.6.0) built nothing; the release did",
    );
  });

  test("the environment check in the built image prints the torch version and fails when CUDA is expected", async (t) => {
    if (!built(t)) return;
    ctr = (await buildah(be, ["from", "--pull-never", builtImage])).stdout.trim();
    const check = await buildah(be, ["run", ctr, "--", "workstation-env-check"]);
    assert.match(check.stdout, new RegExp(`^torch ${NEW_TORCH.replace(/\./g, "\\.")}\\+${VARIANT}$`, "m"));
    assert.match(check.stdout, /^torchvision 0\.23\.0\+cpu$/m);
    assert.match(check.stdout, /^torchaudio 2\.8\.0\+cpu$/m);
    assert.match(check.stdout, /^cuda available: no$/m);
    assert.match(check.stdout, /^device: cpu$/m);
    const expectCuda = await buildah(
      be,
      ["run", "--env", "EXPECT_CUDA=1", ctr, "--", "workstation-env-check"],
      true,
    );
    assert.equal(expectCuda.code, 1, `${expectCuda.stdout}\n${expectCuda.stderr}`);
    assert.match(expectCuda.stderr, /EXPECT_CUDA=1 but CUDA is not available/);

    // The image's health check is that command, and it runs as the non-root user.
    const image = JSON.parse((await buildah(be, ["inspect", "--type", "image", builtImage])).stdout) as {
      Docker: {
        config: {
          Healthcheck?: { Test: string[] };
          User: string;
          Entrypoint: string[];
          Cmd: string[];
          Volumes: Record<string, unknown>;
        };
      };
    };
    assert.deepEqual(image.Docker.config.Healthcheck?.Test, ["CMD", "workstation-env-check", "--quiet"]);
    assert.equal(image.Docker.config.User, "dev");
    assert.deepEqual(Object.keys(image.Docker.config.Volumes).sort(), ["/var/lib/workstation", "/workspace"]);
    const who = await buildah(be, ["run", ctr, "--", "id", "-u"]);
    assert.equal(who.stdout.trim(), String(USER_UID));

    // SSH mode without any authorized key refuses to start.
    const noKeys = await buildah(be, ["run", ctr, "--", "workstation", "ssh"], true);
    assert.equal(noKeys.code, 2, `${noKeys.stdout}\n${noKeys.stderr}`);
    assert.match(noKeys.stderr, /ssh: no authorized key: set AUTHORIZED_KEYS or mount a file/);

    // pip in the image keeps using the mirror.
    const pipConf = await buildah(be, ["run", ctr, "--", "cat", "/etc/pip.conf"]);
    assert.match(pipConf.stdout, new RegExp(`^index-url = ${server.url}/pytorch/whl/${VARIANT}$`, "m"));
    assert.match(pipConf.stdout, new RegExp(`^extra-index-url = ${server.url}/pypi/simple$`, "m"));
    const pip = await buildah(be, [
      "run",
      ctr,
      "--",
      "pip",
      "download",
      "--no-deps",
      "-d",
      "/tmp/dl",
      "filelock",
    ]);
    assert.match(pip.stdout + pip.stderr, new RegExp(`${server.url.replace(/\./g, "\\.")}/`));
  });

  test("the entrypoint: Jupyter answers only with the token; SSH takes the test's key and refuses passwords", async (t) => {
    if (!built(t) || !ctr) return;
    const keyDir = join(dir, "keys");
    mkdirSync(keyDir);
    const key = join(keyDir, "id_ed25519");
    const otherKey = join(keyDir, "other_ed25519");
    await runLogged("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test-user", "-f", key]);
    await runLogged("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stranger", "-f", otherKey]);
    secrets.push(
      readFileSync(key, "utf8").split("\n")[1] ?? "",
      readFileSync(otherKey, "utf8").split("\n")[1] ?? "",
    );
    const token = randomBytes(24).toString("hex");
    secrets.push(token);
    const state = join(dir, "state");
    const workspace = join(dir, "workspace");
    for (const d of [state, workspace]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, USER_UID, USER_UID);
    }
    const jupyterPort = await freePort();
    const sshPort = await freePort();
    const env = {
      JUPYTER_TOKEN: token,
      AUTHORIZED_KEYS: readFileSync(`${key}.pub`, "utf8"),
      JUPYTER_PORT: String(jupyterPort),
      JUPYTER_IP: "127.0.0.1",
      SSH_PORT: String(sshPort),
      SSH_LISTEN: "127.0.0.1",
    };
    const image = JSON.parse((await buildah(be, ["inspect", "--type", "image", builtImage])).stdout) as {
      Docker: { config: { Entrypoint: string[]; Cmd: string[] } };
    };
    const argv = [...image.Docker.config.Entrypoint, ...image.Docker.config.Cmd];
    assert.deepEqual(argv, ["workstation", "both"]);
    const running = startContainer(be, ctr, argv, env, [
      `${state}:/var/lib/workstation`,
      `${workspace}:/workspace`,
    ]);
    try {
      const jupyter = `http://127.0.0.1:${jupyterPort}`;
      await until(
        async () => {
          if (running.child.exitCode !== null) assert.fail(`the container exited:\n${running.output()}`);
          try {
            return (await fetch(`${jupyter}/api`, { signal: AbortSignal.timeout(2000) })).status === 200;
          } catch {
            return false;
          }
        },
        "Jupyter to listen",
        120_000,
        250,
      );
      const status = (headers: Record<string, string>, query = "") =>
        fetch(`${jupyter}/api/status${query}`, { headers, redirect: "manual" }).then(async (res) => {
          await res.arrayBuffer();
          return res.status;
        });
      assert.equal(await status({}), 403, "no token: refused");
      assert.equal(await status({ authorization: "token wrong-token" }), 403, "a wrong token: refused");
      assert.equal(await status({}, "?token=wrong-token"), 403);
      assert.equal(await status({ authorization: `token ${token}` }), 200, "the token: answered");
      assert.equal(await status({}, `?token=${token}`), 200);
      const contents = await fetch(`${jupyter}/api/contents`, {
        headers: { authorization: `token ${token}` },
      });
      assert.equal(contents.status, 200);
      assert.ok(!running.output().includes(token), "a token given in JUPYTER_TOKEN is never printed");

      await until(() => running.output().includes("ssh: listening"), "sshd to start", 60_000, 250);
      const login = await until(
        async () => {
          const result = await ssh(key, sshPort, "dev", [], ["workstation-env-check", "--quiet"]);
          return result.code === 0 ? result : undefined;
        },
        "an SSH login with the test key",
        60_000,
        500,
      );
      assert.match(
        login.stdout,
        new RegExp(`^torch ${NEW_TORCH.replace(/\./g, "\\.")}\\+cpu cuda no cpu$`, "m"),
      );
      const whoami = await ssh(key, sshPort, "dev", [], ["id", "-un"]);
      assert.equal(whoami.stdout.trim(), "dev");

      const password = await ssh(
        key,
        sshPort,
        "dev",
        [
          "-v",
          "-o",
          "PubkeyAuthentication=no",
          "-o",
          "PreferredAuthentications=password,keyboard-interactive",
        ],
        ["true"],
      );
      assert.equal(password.code, 255);
      assert.match(
        password.stderr,
        /Authentications that can continue: publickey\r?$/m,
        "publickey is the only method offered",
      );
      assert.match(password.stderr, /Permission denied \(publickey\)/);
      const stranger = await ssh(otherKey, sshPort, "dev", [], ["true"]);
      assert.equal(stranger.code, 255, "a key not in AUTHORIZED_KEYS is refused");
      const root = await ssh(key, sshPort, "root", [], ["true"]);
      assert.equal(root.code, 255, "root may not log in");

      // The host keys were made at this first start, in the state volume.
      hostKeyFiles = readdirSync(join(state, "ssh")).filter((name) => name.endsWith("_key"));
      assert.deepEqual(hostKeyFiles.sort(), ["ssh_host_ed25519_key", "ssh_host_rsa_key"]);
      for (const name of hostKeyFiles)
        secrets.push(readFileSync(join(state, "ssh", name), "utf8").split("\n")[1] ?? "");

      // `docker stop`: SIGTERM to the entrypoint stops sshd and Jupyter, and the container ends.
      const entrypoint = entrypointPid(running.child.pid ?? 0);
      assert.ok(entrypoint, "the entrypoint's process");
      const ended = new Promise<number | null>((resolve) =>
        running.child.once("exit", (code) => resolve(code)),
      );
      process.kill(entrypoint, "SIGTERM");
      const code = await Promise.race([ended, sleep(60_000).then(() => "timeout" as const)]);
      assert.notEqual(code, "timeout", "the container ended within 60 s of SIGTERM");
      assert.equal(await portAnswers(jupyterPort), false, "Jupyter stopped");
      assert.equal(await portAnswers(sshPort), false, "sshd stopped");
    } finally {
      await running.stop();
    }
    t.diagnostic(running.output().split("\n").slice(0, 12).join(" | "));

    // A second start without JUPYTER_TOKEN generates one and prints it once, and keeps the host keys.
    const before = readFileSync(join(state, "ssh", "ssh_host_ed25519_key"), "utf8");
    const second = startContainer(
      be,
      ctr,
      ["workstation", "jupyter"],
      { JUPYTER_PORT: String(jupyterPort), JUPYTER_IP: "127.0.0.1" },
      [`${state}:/var/lib/workstation`, `${workspace}:/workspace`],
    );
    try {
      const generated = await until(
        () =>
          /Jupyter token \(generated; set JUPYTER_TOKEN to choose one\): (\S+)/.exec(second.output())?.[1],
        "the generated token",
        60_000,
        250,
      );
      secrets.push(generated);
      await until(
        async () => {
          try {
            const res = await fetch(`http://127.0.0.1:${jupyterPort}/api/status`, {
              headers: { authorization: `token ${generated}` },
              signal: AbortSignal.timeout(2000),
            });
            await res.arrayBuffer();
            return res.status === 200;
          } catch {
            return false;
          }
        },
        "Jupyter to answer with the generated token",
        120_000,
        250,
      );
      const unauthorized = await fetch(`http://127.0.0.1:${jupyterPort}/api/status`);
      assert.equal(unauthorized.status, 403);
      assert.equal(second.output().split(generated).length - 1, 1, "printed exactly once");
    } finally {
      await second.stop();
    }
    assert.equal(
      readFileSync(join(state, "ssh", "ssh_host_ed25519_key"), "utf8"),
      before,
      "host keys are kept across starts",
    );
  });

  test("no layer or history entry of the pushed image holds a token, password, private key or SSH host key", async (t) => {
    if (!built(t) || !registry) return;
    const layout = join(dir, "layout");
    const policy = join(dir, "policy.json");
    await runLogged("sh", [
      "-c",
      `printf '%s' '{"default":[{"type":"insecureAcceptAnything"}]}' > '${policy}'`,
    ]);
    await runLogged(
      "skopeo",
      ["copy", "--policy", policy, "--src-tls-verify=false", `docker://${builtImage}`, `oci:${layout}:image`],
      { env: { HOME: dir, TMPDIR: dir } },
    );
    const blob = (digest: string) => join(layout, "blobs", "sha256", digest.replace(/^sha256:/, ""));
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]?.digest ?? ""), "utf8")) as {
      config: { digest: string };
      layers: { digest: string; mediaType: string }[];
    };
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), "utf8")) as {
      config: { Env?: string[] };
      history: { created_by?: string; empty_layer?: boolean }[];
    };
    const baseInfo = JSON.parse(
      (
        await runLogged("skopeo", ["inspect", "--tls-verify=false", `docker://${baseImage}`], {
          env: { HOME: dir },
        })
      ).stdout,
    ) as { Layers: string[] };
    const baseLayers = baseInfo.Layers.length;
    assert.ok(manifest.layers.length > baseLayers, "the recipe added layers");

    const needles = secrets.filter((s) => s.length >= 16);
    assert.ok(needles.length >= 5, "the token, the test keys and the host keys are looked for");
    const privateKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
    const findings: string[] = [];
    const shadowLines: string[] = [];
    let entries = 0;
    for (const [i, layer] of manifest.layers.entries()) {
      const ours = i >= baseLayers;
      const tails = new Map<string, string>();
      await readTar(blob(layer.digest), {
        gzip: layer.mediaType.endsWith("gzip"),
        onEntry: (entry) => {
          entries++;
          const name = basename(entry.path);
          if (/^ssh_host_.*_key(\.pub)?$/.test(name)) findings.push(`layer ${i}: SSH host key ${entry.path}`);
          if (/(^|\/)\.ssh\/(id_|authorized_keys)/.test(entry.path))
            findings.push(`layer ${i}: user SSH file ${entry.path}`);
        },
        wantData: (entry) => entry.size > 0,
        onData: (entry, chunk) => {
          // Each chunk is searched together with the end of the one before it.
          const text = (tails.get(entry.path) ?? "") + chunk.toString("latin1");
          for (const needle of needles)
            if (text.includes(needle)) findings.push(`layer ${i}: ${entry.path} holds a test secret`);
          if (ours && privateKey.test(text)) findings.push(`layer ${i}: ${entry.path} holds a private key`);
          if (/(^|\/)etc\/shadow$/.test(entry.path)) shadowLines.push(...chunk.toString("utf8").split("\n"));
          tails.set(entry.path, text.slice(-200));
        },
      });
    }
    assert.ok(entries > 1000, `the layers were read (${entries} entries)`);
    assert.deepEqual(findings, []);
    const withPassword = shadowLines
      .filter((line) => /^[^:]+:\$/.test(line))
      .map((line) => line.split(":")[0]);
    assert.ok(
      shadowLines.some((line) => line.startsWith("dev:")),
      "the user's shadow entry was read",
    );
    assert.deepEqual(withPassword, [], "no account has a password");

    const history = config.history.map((h) => h.created_by ?? "").join("\n");
    for (const needle of needles) assert.ok(!history.includes(needle), "no secret in the history");
    assert.doesNotMatch(history, /(TOKEN|PASSWORD|SECRET|AUTHORIZED_KEYS)=\S/i);
    assert.deepEqual(
      (config.config.Env ?? []).filter((e) =>
        /TOKEN|PASSWORD|SECRET|AUTHORIZED_KEYS/i.test(e.split("=")[0] ?? ""),
      ),
      [],
    );
    t.diagnostic(`${manifest.layers.length} layers (${baseLayers} of the base), ${entries} entries read`);
  });

  test("docker build builds the same Containerfile (build.sh with BUILDER=docker), base and torch through the mirror", async (t) => {
    if (!built(t)) return;
    const reason =
      dockerdSkipReason() ??
      (process.env.FRESHMIRROR_TEST_DOCKER_BUILD === "1"
        ? undefined
        : "docker build (legacy builder, vfs storage) takes ~25 min on a loaded 2-core machine: set FRESHMIRROR_TEST_DOCKER_BUILD=1 to run it");
    if (reason) {
      t.skip(reason);
      return;
    }
    const dockerd = await startDockerd({ dir: join(dir, "dockerd"), registryMirrors: [] });
    try {
      const image = `${hookEnv.REGISTRY}:${NEW_TORCH}-${VARIANT}`;
      const build = await runLogged(join(RECIPE, "build.sh"), [NEW_TORCH], {
        env: {
          ...hookEnv,
          BUILDER: "docker",
          DOCKER: DOCKER_BIN,
          DOCKER_HOST: dockerd.host,
          PUSH: "0",
          EXTRA_BUILD_ARGS: "--network host",
        },
        allowFailure: true,
        // Every instruction is a container whose rootfs vfs copies whole: slower than buildah.
        timeoutMs: 60 * 60_000,
      });
      assert.equal(
        build.code,
        0,
        `${build.stdout.slice(-6000)}\n${build.stderr.slice(-4000)}\n${dockerd.output().slice(-2000)}`,
      );
      assert.match(build.stdout, /build\.sh: building .* with docker/);
      const check = await dockerd.docker(
        ["run", "--rm", "--network", "host", image, "workstation-env-check"],
        10 * 60_000,
      );
      assert.match(check.stdout, new RegExp(`^torch ${NEW_TORCH.replace(/\./g, "\\.")}\\+${VARIANT}$`, "m"));
      const inspected = JSON.parse((await dockerd.docker(["image", "inspect", image])).stdout) as {
        Config: { Healthcheck?: { Test: string[] }; User: string; Entrypoint: string[] };
      }[];
      assert.deepEqual(inspected[0]?.Config.Healthcheck?.Test, ["CMD", "workstation-env-check", "--quiet"]);
      assert.equal(inspected[0]?.Config.User, "dev");
      assert.deepEqual(inspected[0]?.Config.Entrypoint, ["workstation"]);
    } finally {
      await dockerd.stop();
    }
  });
});
