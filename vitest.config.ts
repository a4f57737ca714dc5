import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds dist/ and the console first: e2e tests spawn the built `doppel` and load the built console.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each get their own PostgreSQL schema and SQLite file, so files can run in parallel.
    pool: "forks",
    // Two files at once even on a 2-core machine (Vitest's default there is one): most e2e files spend
    // their time waiting — on child processes, timeouts, ffmpeg — so a second file uses the idle core.
    maxWorkers: 2,
  },
});
