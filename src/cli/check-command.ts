// `freshmirror check`: does someone else's mirror have what upstream has? Fetches a project's page
// from both indexes (PEP 691 JSON, else PEP 503 HTML), compares them file by file (and by sha256
// where both give one) and says which versions and files the mirror lacks and since when upstream
// has had them (PEP 700 `upload-time`). `--wait` polls until the mirror has caught up, then
// optionally runs a command. Works against any simple-repository index; needs no config.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, type Dispatcher, request } from "undici";
import { formatDuration, parseDuration } from "../config/duration.js";
import {
  BodyTooLargeError,
  describeError,
  type ErrorCode,
  errorCodeOf,
  MalformedPageError,
  UpstreamNetworkError,
  UpstreamStatusError,
  UpstreamTimeoutError,
  UsageError,
} from "../errors.js";
import { parseDistributionFilename } from "../pypi/distribution-filename.js";
import { matchesSpecifierSet, parseSpecifierSet, type SpecifierSet } from "../pypi/pep440-specifier.js";
import { compareVersions, parseVersion } from "../pypi/pep440-version.js";
import { normalizeProjectName, type ProjectPage } from "../pypi/project-page.js";
import { parseSimpleIndex, SIMPLE_INDEX_ACCEPT } from "../pypi/simple-index-content-type.js";
import { readBounded } from "../upstream/http-client.js";
import { type CommandIo, EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseCommandArgs } from "./command-io.js";

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
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_PAGE_BYTES = 64 * 1024 * 1024;
const MAX_REDIRECTS = 5;

export interface CheckedFile {
  filename: string;
  /** From the file name; absent for files that are neither wheels nor sdists. */
  version?: string;
  sha256?: string;
  size?: number;
  /** Upstream's PEP 700 upload time (ISO 8601), when given. */
  uploadTime?: string;
  yanked?: boolean;
}

export interface MissingVersion {
  version: string;
  /** Files of this version upstream lists. */
  files: number;
  /** How many of them the mirror lacks (all of them unless the mirror has the version in part). */
  missing: number;
  /** The earliest upload time of the missing files: upstream has had something the mirror lacks since then. */
  behindSince?: string;
  behindMs?: number;
}

export interface DifferingFile {
  filename: string;
  version?: string;
  upstreamSha256: string;
  mirrorSha256: string;
}

export interface CheckError {
  side: "mirror" | "upstream";
  url: string;
  code: ErrorCode;
  message: string;
  /** Polling again may help (network errors, timeouts, 5xx). */
  transient: boolean;
}

export interface ProjectCheck {
  project: string;
  status: "current" | "behind" | "error";
  upstreamPage: string;
  mirrorPage: string;
  /** The mirror answered 404 for the project. */
  mirrorLacksProject: boolean;
  /** Wanted (matching --version) versions and files upstream lists. */
  upstreamVersions: number;
  upstreamFiles: number;
  /** The newest wanted version upstream has, and the newest the mirror has all files of. */
  newestUpstream?: string;
  newestOnMirror?: string;
  missingVersions: MissingVersion[];
  missingFiles: CheckedFile[];
  differs: DifferingFile[];
  behindSince?: string;
  behindMs?: number;
  error?: CheckError;
}

export interface CheckReport {
  status: "current" | "behind" | "error";
  checkedAt: string;
  mirror: string;
  upstream: string;
  version: string | null;
  projects: ProjectCheck[];
}

interface FetchedPage {
  page: ProjectPage | null;
  url: string;
}

function fileVersion(filename: string, project: string): string | undefined {
  return parseDistributionFilename(filename, project)?.version;
}

function versionOrder(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va && vb) return compareVersions(va, vb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares a project's page on the mirror (null: the mirror has no such project) with upstream's.
 * Pure: `now` is passed in.
 */
export function compareProjectPages(
  project: string,
  upstream: ProjectPage,
  mirror: ProjectPage | null,
  versionSet: SpecifierSet | undefined,
  now: number,
): Omit<ProjectCheck, "upstreamPage" | "mirrorPage" | "error"> {
  const mirrorFiles = new Map((mirror?.files ?? []).map((f) => [f.filename, f]));
  const wanted = upstream.files.filter((file) => {
    if (versionSet === undefined) return true;
    const version = fileVersion(file.filename, project);
    return version !== undefined && matchesSpecifierSet(versionSet, version);
  });
  const byVersion = new Map<string, { files: number; missing: CheckedFile[] }>();
  const missingFiles: CheckedFile[] = [];
  const differs: DifferingFile[] = [];
  for (const file of wanted) {
    const version = fileVersion(file.filename, project);
    const key = version ?? "(unknown version)";
    const entry = byVersion.get(key) ?? { files: 0, missing: [] };
    entry.files++;
    byVersion.set(key, entry);
    const onMirror = mirrorFiles.get(file.filename);
    const upstreamSha = file.hashes.sha256;
    if (onMirror === undefined) {
      const missing: CheckedFile = {
        filename: file.filename,
        ...(version === undefined ? {} : { version }),
        ...(upstreamSha === undefined ? {} : { sha256: upstreamSha }),
        ...(file.size === undefined ? {} : { size: file.size }),
        ...(file.uploadTime === undefined ? {} : { uploadTime: file.uploadTime }),
        ...(file.yanked === false ? {} : { yanked: true }),
      };
      entry.missing.push(missing);
      missingFiles.push(missing);
      continue;
    }
    const mirrorSha = onMirror.hashes.sha256;
    if (upstreamSha !== undefined && mirrorSha !== undefined && upstreamSha !== mirrorSha) {
      differs.push({
        filename: file.filename,
        ...(version === undefined ? {} : { version }),
        upstreamSha256: upstreamSha,
        mirrorSha256: mirrorSha,
      });
    }
  }

  const since = (files: CheckedFile[]): number | undefined => {
    const times = files
      .map((f) => (f.uploadTime ? Date.parse(f.uploadTime) : Number.NaN))
      .filter(Number.isFinite);
    return times.length > 0 ? Math.min(...times) : undefined;
  };
  const missingVersions: MissingVersion[] = [];
  const versions = [...byVersion.keys()].sort(versionOrder);
  for (const version of versions) {
    const entry = byVersion.get(version);
    if (entry === undefined || entry.missing.length === 0) continue;
    const at = since(entry.missing);
    missingVersions.push({
      version,
      files: entry.files,
      missing: entry.missing.length,
      ...(at === undefined
        ? {}
        : { behindSince: new Date(at).toISOString(), behindMs: Math.max(0, now - at) }),
    });
  }
  const complete = versions.filter(
    (v) => v !== "(unknown version)" && (byVersion.get(v)?.missing.length ?? 1) === 0,
  );
  const known = versions.filter((v) => v !== "(unknown version)");
  const behindAt = since(missingFiles);
  const behind = missingFiles.length > 0 || differs.length > 0;
  return {
    project,
    status: behind ? "behind" : "current",
    mirrorLacksProject: mirror === null,
    upstreamVersions: byVersion.size,
    upstreamFiles: wanted.length,
    ...(known.length > 0 ? { newestUpstream: known[known.length - 1] as string } : {}),
    ...(complete.length > 0 ? { newestOnMirror: complete[complete.length - 1] as string } : {}),
    missingVersions,
    missingFiles,
    differs,
    ...(behindAt === undefined
      ? {}
      : { behindSince: new Date(behindAt).toISOString(), behindMs: Math.max(0, now - behindAt) }),
  };
}

function projectPageUrl(indexUrl: string, project: string): string {
  return `${indexUrl.replace(/\/+$/, "")}/${normalizeProjectName(project)}/`;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** GETs a project page, following redirects; null on 404/410. Throws FreshmirrorErrors. */
async function fetchProjectPage(
  dispatcher: Dispatcher,
  url: string,
  project: string,
  signal: AbortSignal,
): Promise<FetchedPage> {
  let current = url;
  for (let hop = 0; ; hop++) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(current, {
        method: "GET",
        headers: { accept: SIMPLE_INDEX_ACCEPT, "user-agent": "freshmirror-check" },
        dispatcher,
        signal,
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (
        code === "UND_ERR_HEADERS_TIMEOUT" ||
        code === "UND_ERR_CONNECT_TIMEOUT" ||
        (error as Error).name === "TimeoutError"
      ) {
        throw new UpstreamTimeoutError(current, REQUEST_TIMEOUT_MS);
      }
      throw new UpstreamNetworkError(current, error);
    }
    const status = response.statusCode;
    const location = header(response.headers, "location");
    if (status >= 300 && status < 400 && location) {
      await response.body.dump();
      if (hop >= MAX_REDIRECTS) throw new UpstreamStatusError(current, status);
      current = new URL(location, current).toString();
      continue;
    }
    if (status === 404 || status === 410) {
      await response.body.dump();
      return { page: null, url: current };
    }
    if (status !== 200) {
      await response.body.dump();
      throw new UpstreamStatusError(current, status);
    }
    const body = await readBounded(
      response.body,
      MAX_PAGE_BYTES,
      current,
      header(response.headers, "content-length"),
    );
    return {
      page: parseSimpleIndex(body, header(response.headers, "content-type"), current, project),
      url: current,
    };
  }
}

function toCheckError(side: "mirror" | "upstream", url: string, error: unknown): CheckError {
  const code = errorCodeOf(error);
  let message: string;
  let transient = false;
  if (error instanceof UpstreamNetworkError) {
    const cause = error.cause as { code?: string; message?: string } | undefined;
    message = `cannot reach ${url}: ${cause?.code ?? cause?.message ?? "network error"}`;
    transient = true;
  } else if (error instanceof UpstreamTimeoutError) {
    message = `no answer from ${url} within ${formatDuration(REQUEST_TIMEOUT_MS)}`;
    transient = true;
  } else if (error instanceof UpstreamStatusError) {
    message = `${error.url} answered HTTP ${error.upstreamStatus}`;
    transient = error.upstreamStatus >= 500 || error.upstreamStatus === 429;
  } else if (error instanceof MalformedPageError || error instanceof BodyTooLargeError) {
    message = error.message;
  } else {
    message = describeError(error);
  }
  return { side, url, code, message: `${side}: ${message}`, transient };
}

/** Compares every project once. Never throws: a project whose pages cannot be had is an error entry. */
export async function checkMirror(options: {
  mirror: string;
  upstream: string;
  projects: readonly string[];
  version?: string;
  dispatcher?: Dispatcher;
  now?: () => number;
}): Promise<CheckReport> {
  const now = options.now ?? Date.now;
  const versionSet = options.version === undefined ? undefined : parseSpecifierSet(options.version);
  const dispatcher =
    options.dispatcher ??
    new Agent({
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      connect: { timeout: REQUEST_TIMEOUT_MS },
    });
  try {
    const projects = await Promise.all(
      options.projects.map(async (project): Promise<ProjectCheck> => {
        const upstreamPage = projectPageUrl(options.upstream, project);
        const mirrorPage = projectPageUrl(options.mirror, project);
        const empty: ProjectCheck = {
          project,
          status: "error",
          upstreamPage,
          mirrorPage,
          mirrorLacksProject: false,
          upstreamVersions: 0,
          upstreamFiles: 0,
          missingVersions: [],
          missingFiles: [],
          differs: [],
        };
        const fetchSide = async (side: "mirror" | "upstream", url: string) => {
          try {
            return await fetchProjectPage(
              dispatcher,
              url,
              project,
              AbortSignal.timeout(REQUEST_TIMEOUT_MS * 2),
            );
          } catch (error) {
            return toCheckError(side, url, error);
          }
        };
        const [up, mine] = await Promise.all([
          fetchSide("upstream", upstreamPage),
          fetchSide("mirror", mirrorPage),
        ]);
        if ("code" in up) return { ...empty, error: up };
        if ("code" in mine) return { ...empty, error: mine };
        if (up.page === null) {
          return {
            ...empty,
            error: {
              side: "upstream",
              url: up.url,
              code: new UpstreamStatusError(up.url, 404).code,
              message: `upstream: no project page at ${up.url} (HTTP 404); check the project name and the --upstream index URL`,
              transient: false,
            },
          };
        }
        return {
          ...compareProjectPages(project, up.page, mine.page, versionSet, now()),
          upstreamPage,
          mirrorPage,
        };
      }),
    );
    const status = projects.some((p) => p.status === "error")
      ? "error"
      : projects.some((p) => p.status === "behind")
        ? "behind"
        : "current";
    return {
      status,
      checkedAt: new Date(now()).toISOString(),
      mirror: options.mirror,
      upstream: options.upstream,
      version: options.version ?? null,
      projects,
    };
  } finally {
    if (options.dispatcher === undefined) await dispatcher.close();
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function behindText(since: string | undefined, ms: number | undefined): string {
  return since === undefined || ms === undefined
    ? "since unknown (upstream gives no upload times)"
    : `since ${since} (${formatDuration(ms)})`;
}

/** The human report: one block per project. */
export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  for (const p of report.projects) {
    if (p.status === "error") {
      lines.push(`${p.project}: error: ${p.error?.message ?? "unknown error"}`);
      continue;
    }
    const scope = report.version === null ? "" : ` matching ${report.version}`;
    if (p.status === "current") {
      lines.push(
        p.upstreamFiles === 0
          ? `${p.project}: current (upstream has no version${scope})`
          : `${p.project}: current: ${plural(p.upstreamVersions, "version")}, ${plural(p.upstreamFiles, "file")}${scope}${p.newestUpstream ? `, newest ${p.newestUpstream}` : ""}`,
      );
      continue;
    }
    const wholly = p.missingVersions.filter((v) => v.missing === v.files).length;
    const parts: string[] = [];
    if (p.missingFiles.length > 0) {
      parts.push(
        `lacks ${plural(p.missingFiles.length, "file")} in ${plural(p.missingVersions.length, "version")}${wholly < p.missingVersions.length ? ` (${p.missingVersions.length - wholly} in part)` : ""}`,
      );
    }
    if (p.differs.length > 0) parts.push(`${plural(p.differs.length, "file")} differ`);
    lines.push(
      `${p.project}: behind${p.mirrorLacksProject ? " (the mirror has no page for it)" : ""}: ${parts.join(", ")}; behind ${behindText(p.behindSince, p.behindMs)}`,
    );
    if (p.newestUpstream !== undefined) {
      lines.push(
        `  newest upstream: ${p.newestUpstream}; newest complete on the mirror: ${p.newestOnMirror ?? "none"}`,
      );
    }
    for (const v of p.missingVersions) {
      lines.push(
        `  missing ${v.version}: ${v.missing === v.files ? plural(v.files, "file") : `${v.missing} of ${v.files} files`}, behind ${behindText(v.behindSince, v.behindMs)}`,
      );
      for (const f of p.missingFiles.filter((file) => (file.version ?? "(unknown version)") === v.version)) {
        lines.push(`    ${f.filename}${f.yanked ? " (yanked upstream)" : ""}`);
      }
    }
    for (const d of p.differs) {
      lines.push(
        `  differs ${d.filename}: upstream sha256 ${d.upstreamSha256}, mirror sha256 ${d.mirrorSha256}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

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
  const spec = /^\s*v?\d/.test(text) ? `==${text.trim()}` : text;
  try {
    const set = parseSpecifierSet(spec);
    if (set.specifiers.length === 0) throw new Error("empty");
  } catch {
    throw new UsageError(
      `--version: not a PEP 440 version or specifier: ${JSON.stringify(text)} (e.g. ">=2.9", "2.9.1")`,
    );
  }
  return spec;
}

/** Whether a --wait is over: everything current, and with --version, every project has a matching version. */
function satisfied(report: CheckReport): boolean {
  return (
    report.status === "current" &&
    (report.version === null || report.projects.every((p) => p.upstreamFiles > 0))
  );
}

function waitingLine(report: CheckReport, nextMs: number): string {
  const parts = report.projects.map((p) => {
    if (p.status === "error") return `${p.project}: ${p.error?.message ?? "error"}`;
    if (p.status === "behind") {
      const versions = p.missingVersions.map((v) => v.version);
      return `${p.project} lacks ${versions.slice(0, 3).join(", ")}${versions.length > 3 ? ` and ${versions.length - 3} more` : ""}${p.differs.length > 0 ? ` (${p.differs.length} differ)` : ""}`;
    }
    if (p.upstreamFiles === 0) return `${p.project}: upstream has no version matching ${report.version}`;
    return `${p.project} current`;
  });
  return `waiting: ${parts.join("; ")}; next poll in ${formatDuration(nextMs)}\n`;
}

/** Runs the --then command (no shell), its output to ours; resolves with its exit code. */
function runThen(argv: string[], report: CheckReport, io: CommandIo, json: boolean): Promise<number> {
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
  const dispatcher = new Agent({
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    connect: { timeout: REQUEST_TIMEOUT_MS },
  });
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
        dispatcher,
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
    await dispatcher.close();
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
  if (thenArgv !== undefined) return runThen(thenArgv, report, io, values.json === true);
  return EXIT_OK;
}
