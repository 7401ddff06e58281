// Pulls through a registry with skopeo (as a client of freshmirror would): `copy --all` into an
// OCI layout on disk, and the digest of what was copied.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * `skopeo copy --all docker://<ref> oci:<destDir>:<tag>` over plain http; returns the digest of
 * the top manifest as skopeo read it.
 */
export async function skopeoPull(
  source: string,
  destDir: string,
  tag: string,
  options: { dir: string; extraArgs?: string[] },
): Promise<string> {
  const policy = join(options.dir, "skopeo-pull-policy.json");
  await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  const digestFile = join(
    options.dir,
    `pulled-${createHash("sha256").update(`${source} ${destDir}`).digest("hex").slice(0, 12)}`,
  );
  const args = [
    "copy",
    "--all",
    "--preserve-digests",
    "--policy",
    policy,
    "--src-tls-verify=false",
    "--digestfile",
    digestFile,
    ...(options.extraArgs ?? []),
    `docker://${source}`,
    `oci:${destDir}:${tag}`,
  ];
  try {
    await run("skopeo", args, {
      env: { ...process.env, HOME: options.dir, TMPDIR: options.dir },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`skopeo copy ${source} failed: ${e.stderr?.trim() || e.message}`);
  }
  return (await readFile(digestFile, "utf8")).trim();
}
