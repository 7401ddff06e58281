// Locates the repository from a test file, whether it runs from source (tsx) or compiled under dist/.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cachedRoot: string | undefined;

/** The nearest directory at or above this file that holds package.json. */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) {
      cachedRoot = dir;
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json in ${start} or any directory above it`);
  }
}

/** Path of a file under test/fixtures/real-world/. */
export function realWorldFixture(...parts: string[]): string {
  return join(repoRoot(), "test", "fixtures", "real-world", ...parts);
}
