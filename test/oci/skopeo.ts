// Runs skopeo (https://github.com/containers/skopeo) against test registries on loopback:
// pushes an OCI layout with `copy --all` and reads manifests back with `inspect --raw`.
// A policy file that accepts everything is passed explicitly so the machine's
// /etc/containers/policy.json does not matter.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface SkopeoOptions {
  /** Temp directory for the policy file and digest files. */
  dir: string;
  /** `user:password` for the registry (skopeo runs the token flow itself). */
  creds?: string;
}

async function policy(dir: string): Promise<string> {
  const path = join(dir, "skopeo-policy.json");
  await writeFile(path, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  return path;
}

async function skopeo(args: string[], dir: string): Promise<Buffer> {
  try {
    const { stdout } = await run("skopeo", args, {
      encoding: "buffer",
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, HOME: dir, TMPDIR: dir },
      timeout: 300_000,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(`skopeo ${args[0]} failed: ${e.stderr?.toString("utf8").trim() || e.message}`);
  }
}

/**
 * `skopeo copy --all oci:<layout>:<tag> docker://<host>/<name>:<tag>`, keeping digests;
 * returns the digest of the pushed top manifest.
 */
export async function skopeoPushLayout(
  layoutDir: string,
  layoutTag: string,
  registryHost: string,
  name: string,
  tag: string,
  options: SkopeoOptions,
): Promise<string> {
  const digestFile = join(
    options.dir,
    `digest-${createHash("sha256").update(`${name}:${tag}`).digest("hex").slice(0, 12)}`,
  );
  const args = [
    "copy",
    "--all",
    "--preserve-digests",
    "--policy",
    await policy(options.dir),
    "--dest-tls-verify=false",
    "--digestfile",
    digestFile,
  ];
  if (options.creds) args.push("--dest-creds", options.creds);
  args.push(`oci:${layoutDir}:${layoutTag}`, `docker://${registryHost}/${name}:${tag}`);
  await skopeo(args, options.dir);
  return (await readFile(digestFile, "utf8")).trim();
}

/** `skopeo inspect --raw`: the manifest's raw bytes and their sha256 digest. */
export async function skopeoInspectRaw(
  registryHost: string,
  nameAndRef: string,
  options: SkopeoOptions,
): Promise<{ raw: Buffer; digest: string }> {
  const args = ["inspect", "--raw", "--tls-verify=false"];
  if (options.creds) args.push("--creds", options.creds);
  args.push(`docker://${registryHost}/${nameAndRef}`);
  const raw = await skopeo(args, options.dir);
  return { raw, digest: `sha256:${createHash("sha256").update(raw).digest("hex")}` };
}
