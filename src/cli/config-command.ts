import { loadConfig } from "../app/load-config.js";
import { DEFAULT_CONFIG_YAML } from "../config/default-config.js";
import { UsageError } from "../errors.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";

export const configHelp = `freshmirror config check [--config FILE]
freshmirror config default

check: validates the config and prints it resolved (defaults filled in, durations in ms).
default: prints the embedded default config, a starting point for freshmirror.yaml.
Exit 2 when the config is invalid, with every problem named by its field.`;

export async function configCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {});
  if (values.help || positionals.length === 0) {
    io.stdout.write(`${configHelp}\n`);
    return EXIT_OK;
  }
  if (positionals[0] === "default") {
    io.stdout.write(DEFAULT_CONFIG_YAML);
    return EXIT_OK;
  }
  if (positionals[0] !== "check")
    throw new UsageError(`unknown config subcommand "${positionals[0]}" (check, default)`);
  const config = loadConfig(values.config, io.env, io.cwd);
  // Patterns (OCI immutable_tags, images: /regex/) show as the text they were written as.
  const shown = JSON.stringify(config, (_key, value) => (value instanceof RegExp ? value.source : value), 2);
  io.stdout.write(`# config OK (${config.source})\n${shown}\n`);
  return EXIT_OK;
}
