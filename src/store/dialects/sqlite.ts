import SQLite from "better-sqlite3";
import { Kysely, type SqliteDatabase, SqliteDialect, type SqliteStatement } from "kysely";
import type { DatabaseSchema } from "../schema.js";

const STATEMENT_CACHE_SIZE = 256;

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
  return new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

/**
 * Kysely prepares every query afresh; on a list call that was an eighth of the server's CPU. Kysely
 * emits the same SQL text for the same query shape, so statements are cached by text. SQLite
 * re-prepares a cached statement by itself if the schema changes under it.
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string): SqliteStatement {
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql) as unknown as SqliteStatement;
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}
