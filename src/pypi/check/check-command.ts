// `freshmirror check`: does someone else's mirror have what upstream has? Fetches a project's page
// from both indexes (PEP 691 JSON, else PEP 503 HTML), compares them file by file (and by sha256
// where both give one) and says which versions and files the mirror lacks and since when upstream
// has had them (PEP 700 `upload-time`). `--wait` polls until the mirror has caught up, then
// optionally runs a command. Works against any simple-repository index; needs no config.
// This file is the command: its options and the --wait loop. One pass is check-mirror.ts, the
// comparison ../mirror-comparison.ts, the report check-report.ts, --then src/cli/then-command.ts.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/
import { setTimeout as sleep } from "node:timers/promises";
import { type CommandIo, EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseCommandArgs } from "../../cli/command-io.js";
import { runThenCommand, type ThenValues } from "../../cli/then-command.js";
import { formatDuration, parseDuration } from "../../config/duration.js";
import { describeError, UsageError } from "../../errors.js";
import { versionFilter } from "../mirror-comparison.js";
import { checkMirror, createCheckClient } from "./check-mirror.js";
import { type CheckReport, formatCheckReport, plural, satisfied, waitingLine } from "./check-report.js";

export const checkHelp = `freshmirror check --mirror URL --upstream URL --project NAME [--project NAME ...]
                  [--version SPEC] [--wait] [--timeout T] [--interval T] [--json] [--then CMD ...]

Compares a mirror's simple index with its upstream's and prints which versions and files the
mirror lacks, and how long it has been behind (from upstream's upload times, where it gives them).
URLs are index URLs as given to pip: --mirror http://mirror.example.edu/pytorch/whl/cu121
--upstream https://download.pytorch.org/whl/cu121. Files are matched by name; a file whose
sha256 differs between the two is reported as "differs". Any PEP 503 / PEP 691 index works.

  --mirror URL      the index to check
  --upstream URL    the index it mirrors
  --project NAME    a project to compare (repeatable)
  --version SPEC    only versions matching this PEP 440 specifier (">=2.9", "==2.9.1"; a bare
                    version means ==); pre-releases only when the specifier names one
  --wait            poll until the mirror has every wanted file (with --version: until both have
                    a matching version and the mirror has all of its files)
  --interval T      time between polls (default 30s)
  --timeout T       give up waiting after this long (default 1h)
  --json            machine-readable output
  --then CMD ...    once the mirror is current, run CMD with the arguments after it (no shell;
                    {project} and {version} are replaced by the first project and its newest
                    wanted version); must come last

Exit codes: 0 the mirror is current (or --then's command exited 0); 1 the mirror is behind
(or --wait timed out; or --then's command failed: its exit code); 2 error: bad arguments, an
index unreachable or answering an error, a page that cannot be parsed.`;

const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 3_600_000;
function parseDurationOption(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === null || ms <= 0)
    throw new UsageError(`--${name}: not a duration: ${JSON.stringify(text)} (e.g. 30s, 10m, 1h)`);
  return ms;
}

function indexUrlOption(name: string, text: string | undefined): string {
  if (text === undefined || text === "") throw new UsageError(`--${name} URL is required`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--${name}: not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--${name}: not an http(s) URL: ${JSON.stringify(text)}`);
  }
  return text;
}

/** `--version 2.9.1` means `==2.9.1`; anything else must be a PEP 440 specifier set. */
function versionOption(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const filter = versionFilter(text);
  if (filter === undefined) {
    throw new UsageError(
      `--version: not a PEP 440 version or specifier: ${JSON.stringify(text)} (e.g. ">=2.9", "2.9.1")`,
    );
  }
  return filter.spec;
}

export async function checkCommand(argv: string[], io: CommandIo): Promise<number> {
  try {
    return await check(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`freshmirror check: ${error.message}\n(see \`freshmirror check --help\`)\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`freshmirror check: ${describeError(error)}\n`);
    return EXIT_USAGE;
  }
}

async function check(argv: string[], io: CommandIo): Promise<number> {
  // Everything after `--then` is the command's argv, not ours to parse.
  const thenAt = argv.indexOf("--then");
  const own = thenAt === -1 ? argv : argv.slice(0, thenAt);
  const thenArgv = thenAt === -1 ? undefined : argv.slice(thenAt + 1);
  const { values } = parseCommandArgs(
    own,
    {
      mirror: { type: "string" },
      upstream: { type: "string" },
      project: { type: "string", short: "p", multiple: true },
      version: { type: "string" },
      wait: { type: "boolean" },
      timeout: { type: "string" },
      interval: { type: "string" },
      json: { type: "boolean" },
    },
    false,
  );
  if (values.help) {
    io.stdout.write(`${checkHelp}\n`);
    return EXIT_OK;
  }
  const mirror = indexUrlOption("mirror", values.mirror);
  const upstream = indexUrlOption("upstream", values.upstream);
  const projects = [...new Set(values.project ?? [])];
  if (projects.length === 0) throw new UsageError("--project NAME is required (repeat it for more projects)");
  for (const project of projects) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(project)) {
      throw new UsageError(`--project: not a project name: ${JSON.stringify(project)}`);
    }
  }
  const version = versionOption(values.version);
  const intervalMs = parseDurationOption("interval", values.interval, DEFAULT_INTERVAL_MS);
  const timeoutMs = parseDurationOption("timeout", values.timeout, DEFAULT_TIMEOUT_MS);
  if (thenArgv !== undefined && (thenArgv.length === 0 || thenArgv[0] === "")) {
    throw new UsageError("--then needs a command: --then CMD [ARG ...]");
  }
  if (!values.wait && (values.timeout !== undefined || values.interval !== undefined)) {
    throw new UsageError("--timeout and --interval apply to --wait");
  }

  const startedAt = Date.now();
  const deadline = startedAt + timeoutMs;
  const client = createCheckClient();
  let report: CheckReport;
  let polls = 0;
  let timedOut = false;
  try {
    for (;;) {
      report = await checkMirror({
        mirror,
        upstream,
        projects,
        ...(version === undefined ? {} : { version }),
        client,
      });
      polls++;
      if (!values.wait || satisfied(report)) break;
      // A wrong name or a page that is not an index will not fix itself: stop at once.
      const fatal = report.projects.find((p) => p.error !== undefined && !p.error.transient);
      if (fatal) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        timedOut = true;
        break;
      }
      const next = Math.min(intervalMs, left);
      if (!values.json) io.stderr.write(waitingLine(report, next));
      await sleep(next);
    }
  } finally {
    await client.close();
  }

  const waited = values.wait ? { polls, waitedMs: Date.now() - startedAt, timedOut } : {};
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ...report, ...waited }, null, 2)}\n`);
  } else {
    io.stdout.write(formatCheckReport(report));
    if (timedOut) {
      io.stdout.write(
        `timed out after ${formatDuration(timeoutMs)} (${plural(polls, "poll")}); still missing the above\n`,
      );
    } else if (values.wait && report.status === "current" && polls > 1) {
      io.stdout.write(
        `the mirror caught up after ${formatDuration(Date.now() - startedAt)} (${plural(polls, "poll")})\n`,
      );
    }
  }
  if (report.status === "error") return EXIT_USAGE;
  if (report.status === "behind") return EXIT_FAILED;
  if (!satisfied(report)) {
    // Current, but upstream has no version matching --version yet: nothing to wait for or run on.
    if (!values.json) io.stdout.write(`upstream has no version matching ${version}\n`);
    return values.wait || thenArgv !== undefined ? EXIT_FAILED : EXIT_OK;
  }
  if (thenArgv !== undefined) return runThenCommand(thenArgv, thenValues(report), io, values.json === true);
  return EXIT_OK;
}

/** `{project}` and `{version}`: the first project and its newest wanted version (also as env). */
function thenValues(report: CheckReport): ThenValues {
  const first = report.projects[0];
  const project = first?.project ?? "";
  const version = first?.newestOnMirror ?? first?.newestUpstream ?? "";
  return {
    placeholders: { project, version },
    env: {
      FRESHMIRROR_CHECK_MIRROR: report.mirror,
      FRESHMIRROR_CHECK_UPSTREAM: report.upstream,
      FRESHMIRROR_PROJECT: project,
      FRESHMIRROR_VERSION: version,
    },
  };
}
