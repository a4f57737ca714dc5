import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { DatabaseSchema } from "../schema.js";

/**
 * The embedded default. WAL lets the CLI read and write while `doppel serve` holds the file;
 * busy_timeout makes a concurrent writer wait instead of failing with SQLITE_BUSY.
 */
export function openSqlite(path: string): Kysely<DatabaseSchema> {
  const sqlite = new SQLite(path);
  sqlite.pragma("journal_mode = WAL");
  // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose the last commit.
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  return new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: sqlite }) });
}
