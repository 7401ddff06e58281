// One pass of `freshmirror check`: fetch each project's page from the mirror and from upstream
// (PEP 691 JSON, else PEP 503 HTML) with the project's one upstream client, and compare them.
// https://packaging.python.org/en/latest/specifications/simple-repository-api/
import { formatDuration } from "../../config/duration.js";
import {
  BodyTooLargeError,
  describeError,
  errorCodeOf,
  MalformedPageError,
  UpstreamNetworkError,
  UpstreamStatusError,
  UpstreamTimeoutError,
} from "../../errors.js";
import { UpstreamClient } from "../../upstream/http-client.js";
import { compareProjectPages, projectPageUrl } from "../mirror-comparison.js";
import { parseSpecifierSet } from "../pep440-specifier.js";
import type { ProjectPage } from "../project-page.js";
import { parseSimpleIndex, SIMPLE_INDEX_ACCEPT } from "../simple-index-content-type.js";
import type { CheckError, CheckReport, ProjectCheck } from "./check-report.js";

/** Idle timeout of one request (connect, headers, between body chunks). */
export const REQUEST_TIMEOUT_MS = 30_000;
const MAX_PAGE_BYTES = 64 * 1024 * 1024;

/**
 * The client `check` uses: no retries (a --wait polls again instead), a breaker that never opens
 * (every poll asks again), and redirects followed to any http(s) host: the user named both
 * indexes, and check reads pages only, never downloads files from where they point.
 */
class CheckClient extends UpstreamClient {
  override isAllowed(url: string): boolean {
    try {
      const { protocol } = new URL(url);
      return protocol === "http:" || protocol === "https:";
    } catch {
      return false;
    }
  }
}

/** `timeoutMs` (default 30 s) is the idle timeout; a page's whole deadline is twice that. */
export function createCheckClient(timeoutMs = REQUEST_TIMEOUT_MS): UpstreamClient {
  return new CheckClient({
    allowedHosts: [],
    timeoutMs,
    pageDeadlineMs: timeoutMs * 2,
    retries: 0,
    backoffMs: 0,
    maxFails: Number.POSITIVE_INFINITY,
    failTimeoutMs: 0,
    maxPageBytes: MAX_PAGE_BYTES,
    pageConnections: 8,
    fileConnections: 1,
    userAgent: "freshmirror-check",
  });
}

interface FetchedPage {
  page: ProjectPage | null;
  url: string;
}

/** GETs a project page, following redirects; null on 404/410. Throws FreshmirrorErrors. */
async function fetchProjectPage(client: UpstreamClient, url: string, project: string): Promise<FetchedPage> {
  const response = await client.fetchPage(url, SIMPLE_INDEX_ACCEPT);
  if (response.status === 404) return { page: null, url: response.url };
  if (response.status !== 200) throw new UpstreamStatusError(response.url, response.status);
  return {
    page: parseSimpleIndex(response.body, response.contentType, response.url, project),
    url: response.url,
  };
}

function toCheckError(
  side: "mirror" | "upstream",
  url: string,
  error: unknown,
  timeoutMs: number,
): CheckError {
  const code = errorCodeOf(error);
  let message: string;
  let transient = false;
  if (error instanceof UpstreamNetworkError) {
    const cause = error.cause as { code?: string; message?: string } | undefined;
    message = `cannot reach ${url}: ${cause?.code ?? cause?.message ?? "network error"}`;
    transient = true;
  } else if (error instanceof UpstreamTimeoutError) {
    message = `no answer from ${url} within ${formatDuration(timeoutMs)}`;
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
  /** Reused across polls; one is made (and closed) when absent. */
  client?: UpstreamClient;
  now?: () => number;
}): Promise<CheckReport> {
  const now = options.now ?? Date.now;
  const versionSet = options.version === undefined ? undefined : parseSpecifierSet(options.version);
  const client = options.client ?? createCheckClient();
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
            return await fetchProjectPage(client, url, project);
          } catch (error) {
            return toCheckError(side, url, error, client.options.timeoutMs);
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
    if (options.client === undefined) await client.close();
  }
}
