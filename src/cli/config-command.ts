import { loadConfig } from "../app/load-config.js";
import { configToYaml } from "../config/config-yaml.js";
import { DEFAULT_CONFIG_YAML } from "../config/default-config.js";
import { UsageError } from "../errors.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";

export const configHelp = `freshmirror config check [--config FILE] [--json]
freshmirror config default

check: validates the config and prints it resolved, every default filled in, as YAML with the
keys you write (snake_case, durations like 10m, sizes like 20GiB); --json prints the resolved
object the server uses (camelCase, milliseconds, bytes).
default: prints the embedded default config, a starting point for freshmirror.yaml.
Exit 2 when the config is invalid, with every problem named by its field.`;

export async function configCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: "boolean" } });
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
  if (values.json) {
    // Patterns (OCI immutable_tags, images: /regex/) show as the text they were written as.
    io.stdout.write(
      `${JSON.stringify(config, (_key, value) => (value instanceof RegExp ? value.source : value), 2)}\n`,
    );
  } else {
    io.stdout.write(`# config OK (${config.source}), every default filled in\n${configToYaml(config)}`);
  }
  return EXIT_OK;
}
