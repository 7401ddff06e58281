import { AppContext } from "../app-context.js";
import { loadConfig } from "../config/load-config.js";
import type { CommandIo } from "./command-io.js";

/** Loads the config (from --config, FRESHMIRROR_CONFIG, ./freshmirror.yaml or the default) and opens the state. */
export async function openApp(configPath: string | undefined, io: CommandIo): Promise<AppContext> {
  const config = loadConfig(configPath, io.env, io.cwd);
  return AppContext.open(config);
}
