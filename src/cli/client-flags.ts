import { type Command, InvalidArgumentError } from "commander";
import { isHexId } from "../domain/job.js";
import { type ClientFlags, clientSettings, DEFAULT_ENDPOINT, DoppelClient } from "./api-client.js";

/**
 * What the commands that talk to a running Doppel (`doppel jobs …`, `doppel assets …`) share: the
 * connection flags, the client built from them, and the checks of their arguments.
 */

/** The connection flags every such command takes. */
export function withClientFlags(command: Command): Command {
  return command
    .option("--endpoint <url>", `Doppel's URL [env DOPPEL_ENDPOINT, default ${DEFAULT_ENDPOINT}]`)
    .option("--access-key <id>", "access key id from `doppel key create` [env DOPPEL_ACCESS_KEY_ID]")
    .option("--secret-key <secret>", "its secret access key [env DOPPEL_SECRET_ACCESS_KEY]")
    .option("--project <id>", "project id [env DOPPEL_PROJECT_ID]")
    .option(
      "--token <token>",
      "X-Auth-Token from `doppel token create`, instead of a key [env DOPPEL_TOKEN]",
    );
}

export function clientOf(command: Command): DoppelClient {
  return new DoppelClient(clientSettings(command.opts<ClientFlags>()));
}

export function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}.`);
  }
  return Number(raw);
}

/** A parser of an id of 32 lowercase hex characters; `source` says where the user finds one. */
export function hexIdArg(noun: string, source: string): (raw: string) => string {
  return (raw) => {
    const value = raw.trim();
    if (!isHexId(value)) {
      throw new InvalidArgumentError(
        `expected ${/^[aeiou]/.test(noun) ? "an" : "a"} ${noun} id: 32 lowercase hexadecimal characters, as ${source} print it.`,
      );
    }
    return value;
  };
}

/** A parser of a comma list of `known` values (at least one), joined back with commas. */
export function commaListArg(known: readonly string[], noun: string): (raw: string) => string {
  return (raw) => {
    const values = raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    const unknown = values.filter((s) => !known.includes(s));
    if (values.length === 0 || unknown.length > 0) {
      throw new InvalidArgumentError(
        `${unknown.length > 0 ? `unknown ${noun} ${unknown.join(", ")}` : `no ${noun} given`}; ${noun}s are ${known.join(", ")}.`,
      );
    }
    return values.join(",");
  };
}
