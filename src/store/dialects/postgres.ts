import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { DatabaseSchema } from "../schema.js";

// BIGINT (int8) columns hold epoch milliseconds, far inside Number's safe range; without this, pg
// returns them as strings and the two databases would hand the repositories different types.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens a pool; with `schema`, every connection uses (and first creates) that schema. Returns the
 * schema in use (the given one, or the server's current schema).
 */
export async function openPostgres(
  url: string,
  schema?: string,
): Promise<{ db: Kysely<DatabaseSchema>; schema: string }> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  const current = await sql<{ name: string }>`select current_schema() as name`.execute(db);
  return { db, schema: current.rows[0]?.name ?? "public" };
}
