import { type Command, Option } from "commander";
import { type ConfigFlags, loadConfig, SETTINGS } from "../config/config.js";

/** Adds the shared configuration flags (same names as the env vars in SETTINGS) to a command. */
export function withConfigFlags(command: Command): Command {
  for (const [flag, env, fallback, help] of SETTINGS) {
    if (flag === "") continue;
    command.addOption(new Option(`${flag} <value>`, `${help} [env ${env}, default ${fallback}]`));
  }
  return command;
}

/** Reads a command's configuration from its flags and the environment. */
export function configOf(command: Command) {
  return loadConfig(command.opts<ConfigFlags>());
}
