// What the workstation image tests need around buildah: a reason to skip when a tool is missing,
// a buildah storage of their own (vfs, chroot isolation: what works as root on a machine without
// a container engine), and the small base image: a minimal Debian rootfs with Python, pip,
// OpenSSH and Jupyter from Debian's packages, made by debootstrap from the Debian mirror this
// machine's apt uses and cached between runs (a few minutes the first time, none after).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dockerRegistrySkipReason } from "../oci/docker-registry.js";

export const TEST_CACHE_DIR = process.env.FRESHMIRROR_TEST_CACHE ?? "/tmp/freshmirror-test-cache";

/** What debootstrap includes: what the Containerfile would otherwise install from the mirrors. */
export const BASE_PACKAGES = [
  "python3",
  "python3-pip",
  "python3-venv",
  "openssh-server",
  "openssh-client",
  "jupyter-notebook",
];

function onPath(command: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin")
    .split(":")
    .some((dir) => dir !== "" && existsSync(join(dir, command)));
}

/** Why the workstation image tests cannot run here, or undefined when they can. */
export function workstationSkipReason(): string | undefined {
  if (process.platform !== "linux") return "buildah image builds need Linux";
  if (process.getuid?.() !== 0)
    return "needs root (buildah with chroot isolation and vfs storage, debootstrap)";
  const registry = dockerRegistrySkipReason();
  if (registry) return registry;
  for (const [command, pkg] of [
    ["buildah", "buildah"],
    ["debootstrap", "debootstrap"],
    ["ssh", "openssh-client"],
    ["ssh-keygen", "openssh-client"],
    ["unshare", "util-linux"],
  ] as const) {
    if (!onPath(command) && !existsSync(`/usr/sbin/${command}`))
      return `${command} not found (apt-get install ${pkg})`;
  }
  return undefined;
}

/**
 * The Debian archive and suite for debootstrap: FRESHMIRROR_TEST_DEBIAN_MIRROR and
 * FRESHMIRROR_TEST_DEBIAN_SUITE, else the first `main` source of this machine's apt that is not
 * the security archive, and this machine's codename.
 */
export function debianSource(): { mirror: string | undefined; suite: string } {
  let codename = "bookworm";
  try {
    const osRelease = readFileSync("/etc/os-release", "utf8");
    const match = /^VERSION_CODENAME=(\w+)/m.exec(osRelease);
    if (match?.[1] && /^ID=debian$/m.test(osRelease)) codename = match[1];
  } catch {
    // not Debian: bookworm, from FRESHMIRROR_TEST_DEBIAN_MIRROR
  }
  const suite = process.env.FRESHMIRROR_TEST_DEBIAN_SUITE ?? codename;
  if (process.env.FRESHMIRROR_TEST_DEBIAN_MIRROR)
    return { mirror: process.env.FRESHMIRROR_TEST_DEBIAN_MIRROR, suite };
  const files: string[] = [];
  if (existsSync("/etc/apt/sources.list")) files.push("/etc/apt/sources.list");
  if (existsSync("/etc/apt/sources.list.d"))
    for (const name of readdirSync("/etc/apt/sources.list.d").sort())
      if (name.endsWith(".list") || name.endsWith(".sources"))
        files.push(join("/etc/apt/sources.list.d", name));
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    // deb822 stanzas (`URIs:` and `Suites:`) and one-line `deb URI SUITE COMPONENTS`.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(.+)$/m.exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (/^Enabled:\s*no/im.test(stanza)) continue;
      for (const uri of uris)
        if (suites.includes(suite) && !uri.includes("security")) return { mirror: uri, suite };
    }
    for (const line of text.split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
      if (m?.[1] && m[2] === suite && !m[1].includes("security")) return { mirror: m[1], suite };
    }
  }
  return { mirror: undefined, suite };
}

async function mirrorAnswers(mirror: string, suite: string): Promise<boolean> {
  try {
    const res = await fetch(`${mirror.replace(/\/$/, "")}/dists/${suite}/Release`, {
      method: "HEAD",
      signal: AbortSignal.timeout(15_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

export interface BaseRootfs {
  /** An uncompressed tar of the rootfs (no /dev, /proc, /sys contents; no SSH host keys). */
  tar: string;
  /** Whether it was made now (false: from the cache). */
  made: boolean;
}

/**
 * The cached rootfs tar, made with debootstrap when missing. Resolves to a skip reason when it
 * is missing and no Debian mirror answers.
 */
export async function debianBaseRootfs(log: (line: string) => void): Promise<BaseRootfs | string> {
  const { mirror, suite } = debianSource();
  const key = createHash("sha256")
    .update(JSON.stringify({ suite, packages: BASE_PACKAGES, v: 1 }))
    .digest("hex")
    .slice(0, 16);
  const dir = join(TEST_CACHE_DIR, "workstation-base");
  const tar = join(dir, `debian-${suite}-minbase-${key}.tar`);
  if (existsSync(tar)) return { tar, made: false };
  if (mirror === undefined)
    return `no cached base rootfs (${tar}) and no Debian mirror for ${suite} in /etc/apt/sources.list*; set FRESHMIRROR_TEST_DEBIAN_MIRROR`;
  if (!(await mirrorAnswers(mirror, suite)))
    return `no cached base rootfs (${tar}) and the Debian mirror ${mirror} (from apt's sources) does not answer; debootstrap needs it once`;
  await mkdir(dir, { recursive: true });
  const rootfs = join(dir, `rootfs-${key}-${process.pid}`);
  await rm(rootfs, { recursive: true, force: true });
  log(`debootstrap ${suite} from ${mirror} into ${rootfs} (cached for later runs)`);
  try {
    await runLogged(
      "debootstrap",
      ["--variant=minbase", `--include=${BASE_PACKAGES.join(",")}`, suite, rootfs, mirror],
      { timeoutMs: 30 * 60_000 },
    );
    // What an admin removes before publishing a base: the host keys openssh-server's install
    // generated (every container would share them), apt's lists and package cache.
    for (const name of readdirSync(join(rootfs, "etc", "ssh")))
      if (name.startsWith("ssh_host_")) await rm(join(rootfs, "etc", "ssh", name));
    await rm(join(rootfs, "var", "lib", "apt", "lists"), { recursive: true, force: true });
    await mkdir(join(rootfs, "var", "lib", "apt", "lists", "partial"), { recursive: true });
    await rm(join(rootfs, "var", "cache", "apt", "archives"), { recursive: true, force: true });
    await mkdir(join(rootfs, "var", "cache", "apt", "archives", "partial"), { recursive: true });
    await writeFile(join(rootfs, "etc", "hostname"), "workstation-base\n");
    const partial = `${tar}.partial-${process.pid}`;
    await runLogged("tar", [
      "--numeric-owner",
      "--xattrs",
      "-C",
      rootfs,
      "--exclude=./dev/*",
      "--exclude=./proc/*",
      "--exclude=./sys/*",
      "--exclude=./run/*",
      "--exclude=./tmp/*",
      "-cf",
      partial,
      ".",
    ]);
    await rename(partial, tar);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  return { tar, made: true };
}

export interface BuildahEnv {
  /** The environment buildah (and build.sh) run with. */
  env: Record<string, string>;
  dir: string;
}

/**
 * A buildah storage of the test's own under `dir` (vfs), chroot isolation, and a registries.conf
 * with no search registries, so nothing depends on the machine's container set-up.
 */
export async function buildahEnv(dir: string): Promise<BuildahEnv> {
  await mkdir(join(dir, "storage"), { recursive: true });
  await mkdir(join(dir, "tmp"), { recursive: true });
  const storageConf = join(dir, "storage.conf");
  await writeFile(
    storageConf,
    [
      "[storage]",
      'driver = "vfs"',
      `runroot = ${JSON.stringify(join(dir, "storage", "run"))}`,
      `graphroot = ${JSON.stringify(join(dir, "storage", "graph"))}`,
      "",
    ].join("\n"),
  );
  const registriesConf = join(dir, "registries.conf");
  await writeFile(registriesConf, "unqualified-search-registries = []\n");
  const env: Record<string, string> = {
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    BUILDAH_ISOLATION: "chroot",
    TMPDIR: join(dir, "tmp"),
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
  };
  return { env, dir };
}

export interface Logged {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, keeping the last 64 KiB of each output; rejects on a non-zero exit. */
export function runLogged(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; allowFailure?: boolean } = {},
): Promise<Logged> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout = (stdout + c.toString("utf8")).slice(-65_536);
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString("utf8")).slice(-65_536);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0 && !options.allowFailure) {
        reject(
          new Error(
            `${command} ${args.join(" ")} exited with ${code}:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`,
          ),
        );
      } else resolve({ code, stdout, stderr });
    });
  });
}

/** `buildah <args>` in the test's storage. */
export function buildah(be: BuildahEnv, args: readonly string[], allowFailure = false): Promise<Logged> {
  return runLogged("buildah", args, { env: be.env, timeoutMs: 20 * 60_000, allowFailure });
}

/**
 * Makes the base image from the rootfs tar in the test's buildah storage and pushes it to
 * `dest` (`127.0.0.1:PORT/name:tag`) over plain http.
 */
export async function pushBaseImage(be: BuildahEnv, rootfsTar: string, dest: string): Promise<void> {
  const ctr = (await buildah(be, ["from", "scratch"])).stdout.trim();
  try {
    await buildah(be, ["add", ctr, rootfsTar, "/"]);
    await buildah(be, ["config", "--cmd", "/bin/bash", "--env", "LANG=C.UTF-8", ctr]);
    await buildah(be, ["commit", "--format", "docker", ctr, "workstation-test-base"]);
    await buildah(be, ["push", "--tls-verify=false", "workstation-test-base", `docker://${dest}`]);
  } finally {
    await buildah(be, ["rm", ctr], true);
    await buildah(be, ["rmi", "workstation-test-base"], true);
  }
}
