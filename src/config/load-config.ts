// Config loading: --config, then FRESHMIRROR_CONFIG, then ./freshmirror.yaml, else the embedded
// default. Every problem is reported at once, each with its field path.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { hookConfigProblems } from "../events/hook-config.js";
import { configProblems, systemDirProblem } from "./config-checks.js";
import { DEFAULT_CONFIG_YAML } from "./default-config.js";
import type { ConfigKinds } from "./mirror-schema-kind.js";
import { type Config, configSchemaFor, type ParsedConfig, resolveConfig } from "./schema.js";

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

function describeIssue(issue: z.core.$ZodIssue, types: readonly string[]): string {
  const where = formatPath(issue.path) || "(top level)";
  if (issue.code === "unrecognized_keys") {
    return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  }
  if (issue.code === "invalid_union" && "discriminator" in issue && issue.discriminator) {
    const at = issue.path.at(-1) === issue.discriminator ? where : `${where}.${issue.discriminator}`;
    return `${at}: expected one of ${types.map((t) => JSON.stringify(t)).join(", ")}`;
  }
  return `${where}: ${issue.message}`;
}

/** Aliases (`*name`) a config may expand; a real config uses a handful. */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates config text with mirrors of the given kinds (the composition root's
 * list: src/app/load-config.ts). Throws ConfigError listing every problem.
 */
export function parseConfigTextFor(
  kinds: ConfigKinds,
  text: string,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
): Config {
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
  // Hooks' `versions` are read by the matcher of each hook's mirror kind; checked on the raw value
  // so they are reported together with the schema's problems.
  const rawMirrors = (data as { mirrors?: unknown }).mirrors;
  const matcherFor = (mirror: string | undefined) => {
    const entry =
      mirror !== undefined && typeof rawMirrors === "object" && rawMirrors !== null
        ? (rawMirrors as Record<string, { type?: unknown } | undefined>)[mirror]
        : undefined;
    const kind = kinds.kinds.find((k) => k.type === entry?.type);
    return kind?.subjects ?? kinds.defaultSubjects;
  };
  const hookProblems = hookConfigProblems((data as { hooks?: unknown }).hooks, matcherFor);
  const result = configSchemaFor(kinds.kinds).safeParse(data);
  const types = kinds.kinds.map((k) => k.type);
  if (!result.success)
    throw new ConfigError(
      [...result.error.issues.map((issue) => describeIssue(issue, types)), ...hookProblems],
      source,
    );
  const parsed = result.data as ParsedConfig;
  const problems = [...configProblems(parsed), ...hookProblems];
  const { port } = { port: Number(result.data.listen.slice(result.data.listen.lastIndexOf(":") + 1)) };
  if (port > 65535) problems.push(`listen: port out of range: ${port}`);
  const config = resolveConfig(parsed, source, kinds.kinds, env, problems);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return config;
}

export function loadConfigFor(
  kinds: ConfigKinds,
  explicitPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Config {
  const location = locateConfig(explicitPath, env, cwd);
  const config = parseConfigTextFor(kinds, location.text, location.source, env);
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
