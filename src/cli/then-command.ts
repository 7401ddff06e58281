// `freshmirror check --then CMD ...`: once the mirror is current, run a command (no shell) with
// the project and version it waited for. The hook runner in src/events runs commands for events
// with its own timeouts and delivery log; this is the CLI's simpler case (inherit our output,
// pass on the exit code), so it stays here rather than reaching into the hook runner's internals.
import { spawn } from "node:child_process";
import type { CheckReport } from "./check-report.js";
import { type CommandIo, EXIT_FAILED, EXIT_USAGE } from "./command-io.js";

/**
 * Runs the --then command, its output to ours (stderr only when `json`: stdout stays the report
 * alone); resolves with its exit code. `{project}` and `{version}` in its arguments become the
 * first project and its newest wanted version, also passed as FRESHMIRROR_* variables.
 */
export function runThenCommand(
  argv: string[],
  report: CheckReport,
  io: CommandIo,
  json: boolean,
): Promise<number> {
  const first = report.projects[0];
  const values: Record<string, string> = {
    project: first?.project ?? "",
    version: first?.newestOnMirror ?? first?.newestUpstream ?? "",
  };
  const args = argv.map((arg) => arg.replace(/\{(project|version)\}/g, (_, k: string) => values[k] ?? ""));
  return new Promise((resolve) => {
    const child = spawn(args[0] as string, args.slice(1), {
      cwd: io.cwd,
      env: {
        ...io.env,
        FRESHMIRROR_CHECK_MIRROR: report.mirror,
        FRESHMIRROR_CHECK_UPSTREAM: report.upstream,
        FRESHMIRROR_PROJECT: values.project,
        FRESHMIRROR_VERSION: values.version,
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
