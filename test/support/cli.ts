import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
/**
 * The `doppel` command as built by the tests' global setup at the start of every run (never stale),
 * as arguments to node: spawning it costs less than half the CPU of running the sources through tsx.
 */
export const CLI = ["dist/cli/main.js"];

/** Runs `doppel <args>` to completion and returns its stdout; rejects with stderr on failure. */
export async function doppel(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(process.execPath, [...CLI, ...args], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return stdout;
}

/** Runs `doppel <args>` expecting failure; returns exit code and stderr. */
export async function doppelFails(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`doppel ${args.join(" ")} succeeded but was expected to fail`);
}

/** Starts `doppel serve --port 0` and resolves with its URL and everything it printed. */
export async function serve(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ url: string; output: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...CLI, "serve", "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      // Wait for the whole banner (it ends with a blank line) before resolving.
      if (match?.[1] && /token create/.test(output)) {
        clearTimeout(timer);
        resolve({ url: match[1], output, child });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${output}`));
    });
  });
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
