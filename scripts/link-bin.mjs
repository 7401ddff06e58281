#!/usr/bin/env node
// npm links the bins of dependencies into node_modules/.bin, never the project's own.
// Linking ours there makes `npx freshmirror` work in a fresh clone right after `npm ci`.
import { chmodSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const target = join(root, "dist", "src", "cli", "main.js");
const binDir = join(root, "node_modules", ".bin");
const link = join(binDir, "freshmirror");
mkdirSync(binDir, { recursive: true });
rmSync(link, { force: true });
symlinkSync("../../dist/src/cli/main.js", link);
chmodSync(target, 0o755);
