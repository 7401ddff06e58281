#!/usr/bin/env node
// `npm start` runs the compiled code under dist/, built once by `npm ci` (the `prepare` script)
// or `npm run build`, never on every start. This check stops it from serving stale code: every
// src/**/*.ts needs its dist/src/**/*.js, written no earlier than the source was last changed.
// Usage: node scripts/check-build.mjs [ROOT]   (exit 0 when current, 1 with the reason if not)
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = process.argv[2] ?? new URL("..", import.meta.url).pathname;

function sources(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** The first reason dist/ cannot be started as it is, or undefined when it is current. */
function staleReason() {
  const src = join(root, "src");
  const dist = join(root, "dist", "src");
  try {
    statSync(join(dist, "cli", "main.js"));
  } catch {
    return "dist/ has no compiled code (dist/src/cli/main.js is missing)";
  }
  for (const source of sources(src, [])) {
    const name = relative(src, source);
    const compiled = join(dist, name.replace(/\.ts$/, ".js"));
    let built;
    try {
      built = statSync(compiled).mtimeMs;
    } catch {
      return `src/${name} has not been compiled (no dist/src/${relative(dist, compiled)})`;
    }
    if (statSync(source).mtimeMs > built) return `src/${name} changed after dist/ was built`;
  }
  return undefined;
}

const reason = staleReason();
if (reason !== undefined) {
  process.stderr.write(
    `freshmirror: cannot start: ${reason}.\nBuild first: \`npm run build\` (\`npm ci\` builds too), then \`npm start\` again.\n`,
  );
  process.exit(1);
}
