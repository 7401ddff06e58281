// Building freshmirror's Containerfile with buildah, offline. Tests have no internet, so the
// image's NODE_IMAGE (docker.io/library/node:20-bookworm-slim for users) is replaced by a local
// base made from this machine's own Node.js: its node binary and npm, a POSIX shell and the few
// tools the Containerfile's RUN steps use, each with the shared libraries `ldd` names. `npm ci`
// inside the build reads a copy of this machine's npm cache (filled by the `npm ci` that set up
// this checkout), and better-sqlite3's prebuilt binary is put where prebuild-install's cache
// would hold it after an online install; network access is pointed at a closed port, so a
// missing piece fails the build instead of reaching the internet.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { repoRoot } from "../helpers/repo-root.js";

export const BUILDAH = process.env.FRESHMIRROR_BUILDAH ?? "/usr/bin/buildah";
const NPM_CACHE = process.env.npm_config_cache ?? join(homedir(), ".npm");
const SQLITE_BINARY = join(
  repoRoot(),
  "node_modules",
  "better-sqlite3",
  "build",
  "Release",
  "better_sqlite3.node",
);
/** What the base's RUN steps and npm's scripts call, besides node. */
const TOOLS = ["/bin/sh", "/usr/bin/env", "/bin/ln", "/bin/mkdir", "/bin/chown", "/bin/rm"];

/** Why the image cannot be built here, or undefined when it can. */
export function buildahSkipReason(): string | undefined {
  if (!existsSync(BUILDAH)) return `${BUILDAH} not found (apt-get install buildah)`;
  if (process.getuid?.() !== 0)
    return "buildah builds with chroot isolation and vfs storage as root; not root here";
  if (process.platform !== "linux" || process.arch !== "x64")
    return "the local base is made for linux x64 only";
  if (!existsSync("/usr/bin/ldd")) return "ldd not found (libc-bin)";
  if (npmDir() === undefined)
    return "no npm with bundled dependencies beside node (nodejs.org or NodeSource builds have one)";
  if (!existsSync(join(NPM_CACHE, "_cacache"))) return `no npm cache at ${NPM_CACHE} (run npm ci first)`;
  if (!existsSync(SQLITE_BINARY)) return `${SQLITE_BINARY} not found (run npm ci first)`;
  for (const tool of TOOLS) if (!existsSync(tool)) return `${tool} not found`;
  return undefined;
}

function npmDir(): string | undefined {
  for (const dir of [
    join(dirname(dirname(process.execPath)), "lib", "node_modules", "npm"),
    "/usr/lib/node_modules/npm",
    "/usr/share/nodejs/npm",
  ]) {
    // npm with its dependencies bundled (nodejs.org, NodeSource), not Debian's split package.
    if (existsSync(join(dir, "bin", "npm-cli.js")) && existsSync(join(dir, "node_modules"))) return dir;
  }
  return undefined;
}

/** buildah with its own storage (vfs, under `dir`), so tests never touch the machine's images. */
export class Buildah {
  readonly storage: string[];

  constructor(readonly dir: string) {
    this.storage = ["--root", join(dir, "storage"), "--runroot", join(dir, "run"), "--storage-driver", "vfs"];
  }

  /** Runs buildah; throws with its output when it fails. */
  run(args: string[], timeoutMs = 20 * 60_000): string {
    const result = spawnSync(BUILDAH, [...this.storage, ...args], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeoutMs,
    });
    if (result.status !== 0) {
      throw new Error(
        `buildah ${args.join(" ")} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`,
      );
    }
    return result.stdout;
  }

  argv(args: string[]): string[] {
    return [...this.storage, ...args];
  }

  /** Removes every container of this storage (images go with the directory). */
  removeAll(): void {
    spawnSync(BUILDAH, [...this.storage, "rm", "--all"], { encoding: "utf8" });
  }
}

function copyWithLibraries(rootfs: string, binary: string, as = binary): void {
  const real = realpathSync(binary);
  const target = join(rootfs, as);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(real, target);
  const libraries = execFileSync("/usr/bin/ldd", [real], { encoding: "utf8" }).match(/\/\S+/g) ?? [];
  for (const library of libraries) {
    const into = join(rootfs, library);
    if (existsSync(into)) continue;
    mkdirSync(dirname(into), { recursive: true });
    cpSync(realpathSync(library), into);
  }
}

/**
 * Builds `tag` in `buildah`'s storage: this machine's node and npm with a shell, /etc/passwd
 * with root and `node` (uid 1000, as in the node images), HOME=/root, PATH as usual.
 */
export function buildLocalNodeImage(buildah: Buildah, tag: string): void {
  const context = join(buildah.dir, "base");
  const rootfs = join(context, "rootfs");
  mkdirSync(rootfs, { recursive: true });
  copyWithLibraries(rootfs, process.execPath, "/usr/bin/node");
  for (const tool of TOOLS) copyWithLibraries(rootfs, tool);
  const npm = npmDir() as string;
  cpSync(npm, join(rootfs, "usr", "lib", "node_modules", "npm"), { recursive: true });
  symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(rootfs, "usr", "bin", "npm"));
  symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(rootfs, "usr", "bin", "npx"));
  for (const dir of ["tmp", "root", "home/node", "usr/local/bin", "etc"])
    mkdirSync(join(rootfs, dir), { recursive: true });
  writeFileSync(
    join(rootfs, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n",
  );
  writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\nnode:x:1000:\n");
  chmodSync(join(rootfs, "tmp"), 0o1777);
  writeFileSync(
    join(context, "Containerfile"),
    "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root\n",
  );
  buildah.run(["bud", "--isolation", "chroot", "-f", join(context, "Containerfile"), "-t", tag, context]);
}

/**
 * A copy of this machine's npm cache, with better-sqlite3's prebuilt binary (this checkout's,
 * built for this node) where prebuild-install looks before downloading.
 */
export function offlineNpmCache(into: string): string {
  mkdirSync(into, { recursive: true });
  cpSync(join(NPM_CACHE, "_cacache"), join(into, "_cacache"), { recursive: true });
  const require = createRequire(join(repoRoot(), "node_modules", "prebuild-install", "index.js"));
  const util = require("./util.js") as {
    getDownloadUrl(options: Record<string, unknown>): string;
    cachedPrebuild(url: string): string;
  };
  const pkg = JSON.parse(
    readFileSync(join(dirname(dirname(dirname(SQLITE_BINARY))), "package.json"), "utf8"),
  ) as Record<string, unknown>;
  const url = util.getDownloadUrl({
    pkg,
    platform: "linux",
    arch: "x64",
    libc: "",
    runtime: "node",
    abi: process.versions.modules,
    "tag-prefix": "v",
  });
  const previous = process.env.npm_config_cache;
  process.env.npm_config_cache = into;
  let cached: string;
  try {
    cached = util.cachedPrebuild(url);
  } finally {
    if (previous === undefined) delete process.env.npm_config_cache;
    else process.env.npm_config_cache = previous;
  }
  mkdirSync(dirname(cached), { recursive: true });
  execFileSync("/bin/tar", [
    "-czf",
    cached,
    "-C",
    join(repoRoot(), "node_modules", "better-sqlite3"),
    "build/Release/better_sqlite3.node",
  ]);
  return into;
}
