// Config loading: --config, then FRESHMIRROR_CONFIG, then ./freshmirror.yaml, else the embedded
// default. Every problem is reported at once, each with its field path.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { hookConfigProblems } from "../events/hook-config.js";
import { pypiSubjectMatcher } from "../pypi/subject-matcher.js";
import { configProblems, systemDirProblem } from "./config-checks.js";
import { DEFAULT_CONFIG_YAML } from "./default-config.js";
import { type Config, configSchema, resolveConfig } from "./schema.js";

export interface ConfigLocation {
  /** A file path, or undefined for the embedded default. */
  path: string | undefined;
  text: string;
  source: string;
}

export function locateConfig(
  explicitPath: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): ConfigLocation {
  const candidate = explicitPath ?? env.FRESHMIRROR_CONFIG;
  if (candidate !== undefined && candidate !== "") {
    const path = resolve(cwd, candidate);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new ConfigError([`cannot read config file: ${(error as Error).message}`], path);
    }
    return { path, text, source: path };
  }
  const local = resolve(cwd, "freshmirror.yaml");
  if (existsSync(local)) return { path: local, text: readFileSync(local, "utf8"), source: local };
  return { path: undefined, text: DEFAULT_CONFIG_YAML, source: "embedded default" };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part) => (typeof part === "number" ? `[${part}]` : String(part)))
    .join(".")
    .replace(/\.\[/g, "[");
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path) || "(top level)";
  if (issue.code === "unrecognized_keys") {
    return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  }
  if (issue.code === "invalid_union" && "discriminator" in issue && issue.discriminator) {
    const at = issue.path.at(-1) === issue.discriminator ? where : `${where}.${issue.discriminator}`;
    return `${at}: expected one of "pypi" (OCI mirrors are not supported yet)`;
  }
  return `${where}: ${issue.message}`;
}

/** Aliases (`*name`) a config may expand; a real config uses a handful. */
const MAX_ALIAS_COUNT = 100;

/** Parses and validates config text. Throws ConfigError listing every problem. */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML syntax: ${e.message.split("\n")[0]}`),
      source,
    );
  }
  let data: unknown;
  try {
    // The yaml library refuses to expand more aliases than this (a "billion laughs" document
    // would otherwise take all memory); its ReferenceError becomes a config problem here.
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (error) {
    throw new ConfigError([`YAML: ${(error as Error).message}`], source);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(["(top level): expected a mapping of settings"], source);
  }
  // Hooks' `versions` are read by the matcher of each hook's mirror kind (only PyPI so far); checked
  // on the raw value so they are reported together with the schema's problems.
  const hookProblems = hookConfigProblems((data as { hooks?: unknown }).hooks, () => pypiSubjectMatcher);
  const result = configSchema.safeParse(data);
  if (!result.success)
    throw new ConfigError([...result.error.issues.map(describeIssue), ...hookProblems], source);
  const problems = [...configProblems(result.data), ...hookProblems];
  const { port } = { port: Number(result.data.listen.slice(result.data.listen.lastIndexOf(":") + 1)) };
  if (port > 65535) problems.push(`listen: port out of range: ${port}`);
  const config = resolveConfig(result.data, source, env, problems);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return config;
}

export function loadConfig(
  explicitPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Config {
  const location = locateConfig(explicitPath, env, cwd);
  const config = parseConfigText(location.text, location.source, env);
  // FRESHMIRROR_DATA_DIR wins over `data_dir` (the container image sets it to its /data volume).
  // Either is relative to where freshmirror runs, as `./data` promises.
  const fromEnv = env.FRESHMIRROR_DATA_DIR;
  const dataDir = resolve(cwd, fromEnv !== undefined && fromEnv !== "" ? fromEnv : config.dataDir);
  let real = dataDir;
  try {
    real = realpathSync(dataDir);
  } catch {
    // Not there yet: it is created at start-up, where it is.
  }
  const problem = systemDirProblem(real) ?? systemDirProblem(dataDir);
  if (problem !== undefined) {
    const named =
      fromEnv !== undefined && fromEnv !== ""
        ? problem.replace(/^data_dir:/, "FRESHMIRROR_DATA_DIR:")
        : problem;
    throw new ConfigError([named], location.source);
  }
  return Object.freeze({ ...config, dataDir });
}
