import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each get their own PostgreSQL schema and SQLite file, so files can run in parallel.
    pool: "forks",
  },
});
