import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type Kysely, type Migration, type MigrationProvider, Migrator } from "kysely";
import { openPostgres } from "./dialects/postgres.js";
import { openSqlite } from "./dialects/sqlite.js";
import * as m0001 from "./migrations/0001-foundation.js";
import * as m0002 from "./migrations/0002-unlogged-nonces.js";
import * as m0003 from "./migrations/0003-job-lifecycle.js";
import * as m0004 from "./migrations/0004-media.js";
import * as m0005 from "./migrations/0005-tasks.js";
import * as m0006 from "./migrations/0006-admin-tokens.js";
import * as m0007 from "./migrations/0007-credential-revocation.js";
import * as m0008 from "./migrations/0008-assets.js";
import * as m0009 from "./migrations/0009-events.js";
import type { DatabaseSchema } from "./schema.js";

export type DatabaseKind = "sqlite" | "postgres";

/** An open database: the Kysely handle plus what differs between the two engines. */
export interface Database {
  readonly db: Kysely<DatabaseSchema>;
  readonly kind: DatabaseKind;
  /** Where it lives, with any password removed, for logs. */
  readonly description: string;
  /** PostgreSQL: the schema Doppel's tables are in. */
  readonly schema?: string;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** `postgres://…` / `postgresql://…` for PostgreSQL; anything else is ignored in favour of sqlitePath. */
  readonly url?: string | undefined;
  /** The SQLite file used when no PostgreSQL URL is given. */
  readonly sqlitePath: string;
  /** PostgreSQL schema to use (created if missing); tests give each file its own. */
  readonly pgSchema?: string | undefined;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** Opens the configured database. Does not migrate; call `migrateToLatest`. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (isPostgresUrl(options.url)) {
    const { db, schema } = await openPostgres(options.url, options.pgSchema);
    const safe = options.url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
    return { db, kind: "postgres", description: safe, schema, close: () => db.destroy() };
  }
  mkdirSync(dirname(options.sqlitePath), { recursive: true });
  const db = openSqlite(options.sqlitePath);
  return { db, kind: "sqlite", description: `sqlite:${options.sqlitePath}`, close: () => db.destroy() };
}

const MIGRATIONS: Record<string, Migration> = {
  "0001-foundation": m0001,
  "0002-unlogged-nonces": m0002,
  "0003-job-lifecycle": m0003,
  "0004-media": m0004,
  "0005-tasks": m0005,
  "0006-admin-tokens": m0006,
  "0007-credential-revocation": m0007,
  "0008-assets": m0008,
  "0009-events": m0009,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies every pending migration; safe to run from several processes at once (Kysely's lock). */
export async function migrateToLatest(database: Database): Promise<string[]> {
  // Name the schema: otherwise Kysely takes migration tables in *any* schema of the database (another
  // application's, or another Doppel's) for its own.
  const migrator = new Migrator({
    db: database.db,
    provider,
    ...(database.schema !== undefined && { migrationTableSchema: database.schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
