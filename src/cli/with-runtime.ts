import type { Command } from "commander";
import { openRuntime, type Runtime } from "../services/runtime.js";
import { configOf } from "./config-flags.js";

/** Runs an admin command's body on the configured database, closing it afterwards. */
export async function withRuntime(
  command: Command,
  body: (runtime: Runtime) => Promise<void>,
): Promise<void> {
  const runtime = await openRuntime(configOf(command));
  try {
    await body(runtime);
  } finally {
    await runtime.close();
  }
}

/** Prints `value` as JSON with `--json`, else the text for people. */
export function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}
