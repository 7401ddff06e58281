#!/usr/bin/env node
// The freshmirror command line: one command per file; each returns an exit code.
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  describeError,
  FreshmirrorError,
  StoreNotWritableError,
  UnknownMirrorError,
  UsageError,
} from "../errors.js";
import { checkCommand } from "../pypi/check/check-command.js";
import { type Command, type CommandIo, EXIT_FAILED, EXIT_USAGE } from "./command-io.js";
import { configCommand } from "./config-command.js";
import { gcCommand } from "./gc-command.js";
import { runsCommand } from "./runs-command.js";
import { serveCommand } from "./serve-command.js";
import { statusCommand } from "./status-command.js";
import { syncCommand } from "./sync-command.js";
import { verifyCommand } from "./verify-command.js";

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: { run: serveCommand, summary: "serve the mirrors (status page, simple indexes, files)" },
  sync: { run: syncCommand, summary: "sync a mirror now (--project, --dry-run)" },
  status: { run: statusCommand, summary: "every mirror's state, last sync, next sync, lag (--json)" },
  runs: { run: runsCommand, summary: "a mirror's sync runs, newest first (--limit, --json)" },
  verify: { run: verifyCommand, summary: "re-hash a mirror's published files (--repair)" },
  gc: { run: gcCommand, summary: "remove blobs no snapshot lists (--dry-run)" },
  check: { run: checkCommand, summary: "compare any mirror's index with its upstream (--wait, --then)" },
  config: { run: configCommand, summary: "check the config, or print the embedded default" },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `freshmirror ${version()}: a mirror station for PyTorch wheels and PyPI-style indexes

Usage: freshmirror <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join("\n")}

Global options:
  -c, --config FILE  config file (else $FRESHMIRROR_CONFIG, ./freshmirror.yaml, embedded default)
  -h, --help         help for a command: freshmirror <command> --help
`;
}

export async function main(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === "--version" || name === "-V") {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`);
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`freshmirror: ${error.message}\n[${error.code}]\n`);
      return EXIT_USAGE;
    }
    // A mirror name the config does not have, or a data_dir it cannot use, is a usage/config
    // error, as the README's exit codes say.
    if (error instanceof UnknownMirrorError || error instanceof StoreNotWritableError) {
      io.stderr.write(`freshmirror: ${describeError(error)} [${error.code}]\n`);
      return EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`freshmirror: ${error.message}\n(${error.hint})\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(
      `freshmirror: ${describeError(error)}${error instanceof FreshmirrorError ? ` [${error.code}]` : ""}\n`,
    );
    return EXIT_FAILED;
  }
}

// Run when started as a program (directly, or through the npm bin symlink), not when imported.
function startedAsProgram(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (startedAsProgram()) {
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    // main reports every error itself; this is only for one thrown while reporting.
    (error: unknown) => {
      process.stderr.write(`freshmirror: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
