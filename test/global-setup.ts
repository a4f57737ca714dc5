/**
 * Builds what the tests run as a user would: `dist/` (the `doppel` command that e2e tests spawn) and
 * `dist/console` (the console the browser tests load), once per test run, so no test runs a stale
 * build. Spawning the built command instead of the sources through tsx more than halves the CPU each
 * `doppel` process costs (measured: test/e2e/cli.test.ts took 104 CPU-seconds through tsx, 43 built),
 * which on a 2-core machine is minutes of the suite. (In watch mode the build is the one from the start.)
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export default async function setup(): Promise<void> {
  const bin = (name: string) => `node_modules/.bin/${name}`;
  await Promise.all([
    run(bin("tsc"), ["-p", "tsconfig.build.json"]),
    run(bin("vite"), ["build", "--config", "web/console/vite.config.ts", "--logLevel", "warn"]),
  ]).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`the build before the tests failed:\n${error.stdout ?? ""}${error.stderr ?? ""}`);
  });
}
