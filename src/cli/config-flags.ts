import { type Command, Option } from "commander";
import { type ConfigFlags, loadConfig, SETTINGS } from "../config/config.js";

const BOOLEAN_FLAGS = ["--require-confirm", "--no-workers"] as const;

/** Adds the shared configuration flags (same names as the env vars in SETTINGS) to a command. */
export function withConfigFlags(command: Command): Command {
  for (const [flag, env, fallback, help] of SETTINGS) {
    if (flag === "") continue;
    // On/off switches take no value: `--require-confirm`, `--no-workers`.
    const takesValue = !(BOOLEAN_FLAGS as readonly string[]).includes(flag);
    command.addOption(
      new Option(takesValue ? `${flag} <value>` : flag, `${help} [env ${env}, default ${fallback}]`),
    );
  }
  return command;
}

/** Reads a command's configuration from its flags and the environment. */
export function configOf(command: Command) {
  return loadConfig(command.opts<ConfigFlags>());
}
