import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { type Config, loadConfig } from "../../src/config/config.js";
import { openRuntime, type Runtime } from "../../src/services/runtime.js";

/** PostgreSQL for tests: the machine's and CI's server (see README, "Developing"). */
export const TEST_POSTGRES_URL =
  process.env.DOPPEL_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export type Engine = "sqlite" | "postgres";
export const ENGINES: readonly Engine[] = ["sqlite", "postgres"];

/** A fresh, migrated runtime on one engine: its own temp data dir, and for PostgreSQL its own schema. */
export interface TestRuntime {
  readonly runtime: Runtime;
  readonly config: Config;
  /** Current fake time; tests move it with `clock.set`. */
  readonly clock: { now: number; set(ms: number): void };
  dispose(): Promise<void>;
}

export async function openTestRuntime(
  engine: Engine,
  env: Record<string, string> = {},
): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), "doppel-test-"));
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const config = loadConfig(
    { dataDir, databaseUrl: engine === "postgres" ? TEST_POSTGRES_URL : undefined },
    { ...env },
  );
  const clock = {
    now: Date.UTC(2026, 0, 15, 12, 0, 0),
    set(ms: number) {
      clock.now = ms;
    },
  };
  const open = () =>
    openRuntime(config, { ...(engine === "postgres" ? { pgSchema: schema } : {}), now: () => clock.now });
  const runtime = engine === "postgres" ? await whileNoSchemaIsDropped(open) : await open();
  return {
    runtime,
    config,
    clock,
    async dispose() {
      if (engine === "postgres") {
        await whileNoSchemaIsDropped(() =>
          sql`drop schema if exists ${sql.id(schema)} cascade`.execute(runtime.database.db),
        );
      }
      await runtime.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Test files share one PostgreSQL database, each in a schema of its own. Kysely's migrator looks for
 * its tables across every schema, and PostgreSQL fails such a lookup ("schema … does not exist") when
 * another file drops its schema at that moment. So migrating and dropping take turns, under one
 * advisory lock held by a connection of its own for the duration of `run`.
 */
async function whileNoSchemaIsDropped<T>(run: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock(73110)");
    return await run();
  } finally {
    await client.end();
  }
}

/**
 * A PostgreSQL database of its own, for `doppel` processes (they use the default schema, so they cannot
 * share one database with other test files). `drop()` removes it, closing what is still connected.
 */
export async function createPostgresDatabase(
  prefix: string,
): Promise<{ readonly url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}
