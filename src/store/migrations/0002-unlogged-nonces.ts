import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * On PostgreSQL, nonces need no WAL: every signed Alibaba request inserts one, and a logged insert
 * costs a WAL flush per request. An unlogged table is emptied if PostgreSQL itself crashes; the only
 * effect is that a request captured in the 15 minutes before the crash could be replayed once after
 * it. SQLite has no such table kind (its nonce writes are already cheap in WAL mode).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table nonces set unlogged`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table nonces set logged`.execute(db);
  }
}
