// `--then CMD ...` of CLI commands that wait (`freshmirror check --wait`): once the wait is over,
// run a command (no shell) with the values the waiting command names (`{project}`, `{version}`). The hook runner in src/events runs commands for events
// with its own timeouts and delivery log; this is the CLI's simpler case (inherit our output,
// pass on the exit code), so it stays here rather than reaching into the hook runner's internals.
import { spawn } from "node:child_process";
import { type CommandIo, EXIT_FAILED, EXIT_USAGE } from "./command-io.js";

export interface ThenValues {
  /** `{name}` placeholders in the command's arguments, replaced by these values. */
  readonly placeholders: Readonly<Record<string, string>>;
  /** Extra environment variables for the command (FRESHMIRROR_*). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Runs the --then command, its output to ours (stderr only when `json`: stdout stays the report
 * alone); resolves with its exit code. `{name}` in its arguments becomes `values.placeholders[name]`
 * (unknown names are left as they are).
 */
export function runThenCommand(
  argv: string[],
  values: ThenValues,
  io: CommandIo,
  json: boolean,
): Promise<number> {
  const args = argv.map((arg) =>
    arg.replace(/\{([a-z_]+)\}/g, (whole, k: string) => values.placeholders[k] ?? whole),
  );
  return new Promise((resolve) => {
    const child = spawn(args[0] as string, args.slice(1), {
      cwd: io.cwd,
      env: {
        ...io.env,
        ...values.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
      shell: false,
    });
    // With --json, stdout stays the report alone.
    const out = json ? io.stderr : io.stdout;
    child.stdout.on("data", (chunk: Buffer) => out.write(chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => io.stderr.write(chunk.toString("utf8")));
    child.on("error", (error) => {
      io.stderr.write(`freshmirror: --then: cannot run ${args[0]}: ${error.message}\n`);
      resolve(EXIT_USAGE);
    });
    child.on("close", (code, signal) => {
      if (signal !== null) io.stderr.write(`freshmirror: --then: ${args[0]} was ended by ${signal}\n`);
      resolve(code ?? EXIT_FAILED);
    });
  });
}
