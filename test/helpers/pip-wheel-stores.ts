// The machine's real wheel stores, found the way pip finds them: the `file://…/simple` indexes in
// `pip config list` and the PIP_* variables. Tests that use them skip, saying why, where none exist.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The existing `file://…/simple` index directories pip on this machine is configured with. */
export async function configuredFileIndexes(): Promise<string[]> {
  let text = "";
  try {
    text = (await run("python3", ["-m", "pip", "config", "list"])).stdout;
  } catch {
    return [];
  }
  text += ` ${process.env.PIP_EXTRA_INDEX_URL ?? ""} ${process.env.PIP_INDEX_URL ?? ""}`;
  const roots = [...text.matchAll(/file:\/\/(\/[^\s'"]+\/simple)\/?/g)].map((m) =>
    fileURLToPath(`file://${m[1]}`),
  );
  return [...new Set(roots)].filter((root) => existsSync(root));
}
