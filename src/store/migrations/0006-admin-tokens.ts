import type { Kysely } from "kysely";

/**
 * Operator credentials for Doppel's own admin API (the review queue): bearer tokens that belong to no
 * project. Stored as sha256, like project tokens, so a leaked database leaks no usable token. Also
 * the index the review queue reads.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("admin_tokens")
    .addColumn("token_hash", "char(64)", (c) => c.primaryKey())
    .addColumn("name", "varchar(128)", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("expire_time", "bigint", (c) => c.notNull())
    .execute();
  // The review queue lists jobs of every project in one state, oldest change first.
  await db.schema
    .createIndex("jobs_state_update")
    .on("jobs")
    .columns(["state", "update_time", "id"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("jobs_state_update").execute();
  await db.schema.dropTable("admin_tokens").execute();
}
