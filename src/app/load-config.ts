// Config loading with the kinds this build knows (src/app/mirror-kinds.ts): what commands and
// tests call. The generic loader (src/config/load-config.ts) takes the kinds as a parameter.
import { loadConfigFor, parseConfigTextFor } from "../config/load-config.js";
import type { ConfigKinds } from "../config/mirror-schema-kind.js";
import type { Config } from "../config/schema.js";
import { DEFAULT_SUBJECTS, MIRROR_KINDS } from "./mirror-kinds.js";

export const CONFIG_KINDS: ConfigKinds = { kinds: MIRROR_KINDS, defaultSubjects: DEFAULT_SUBJECTS };

/** Parses and validates config text. Throws ConfigError listing every problem. */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfigTextFor(CONFIG_KINDS, text, source, env);
}

/** Loads the config from --config, FRESHMIRROR_CONFIG, ./freshmirror.yaml or the embedded default. */
export function loadConfig(
  explicitPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Config {
  return loadConfigFor(CONFIG_KINDS, explicitPath, env, cwd);
}
