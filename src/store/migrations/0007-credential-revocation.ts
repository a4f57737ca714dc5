import { type Kysely, sql } from "kysely";

/**
 * Revocable credentials and reserved client tokens.
 *
 * - `revoke_time` on access keys (which also set `disabled`), tokens and operator tokens: a revoked
 *   credential is kept, so listings show when it was revoked and a revoked token can never match again.
 * - `last_used_time` on access keys, so an operator can see which keys are still in use before
 *   revoking one (written at most once a minute per key and process, see services/key-usage.ts).
 * - `client_tokens`: every idempotency token that ever created a job, kept when the job is deleted. A
 *   captured create replayed after its job was deleted must not create another job (Huawei's signature
 *   has no nonce, so a replay within the 15-minute window verifies); the job row alone cannot hold that
 *   reservation, because it is gone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("access_keys").addColumn("revoke_time", "bigint").execute();
  await db.schema.alterTable("access_keys").addColumn("last_used_time", "bigint").execute();
  await db.schema.alterTable("tokens").addColumn("revoke_time", "bigint").execute();
  await db.schema.alterTable("admin_tokens").addColumn("revoke_time", "bigint").execute();

  await db.schema
    .createTable("client_tokens")
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("client_token", "varchar(128)", (c) => c.notNull())
    // No reference to jobs: the row outlives its job on purpose.
    .addColumn("job_id", "char(32)", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("client_tokens_pk", ["project_id", "client_token"])
    .execute();
  await sql`
    insert into client_tokens (project_id, client_token, job_id, create_time)
    select project_id, client_token, id, create_time from jobs where client_token is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("client_tokens").execute();
  await db.schema.alterTable("admin_tokens").dropColumn("revoke_time").execute();
  await db.schema.alterTable("tokens").dropColumn("revoke_time").execute();
  await db.schema.alterTable("access_keys").dropColumn("last_used_time").execute();
  await db.schema.alterTable("access_keys").dropColumn("revoke_time").execute();
}
