import type { Kysely } from "kysely";

/** What the job lifecycle needs: creation options, idempotency tokens, files and operation logs. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("jobs")
    .addColumn("options", "text", (c) => c.notNull().defaultTo("{}"))
    .execute();
  await db.schema.alterTable("jobs").addColumn("client_token", "varchar(128)").execute();
  // A client token names one job per project: the same token returns the same job.
  await db.schema
    .createIndex("jobs_project_client_token")
    .on("jobs")
    .columns(["project_id", "client_token"])
    .unique()
    .execute();

  await db.schema
    .createTable("job_operation_logs")
    .addColumn("job_id", "char(32)", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("operate_time", "bigint", (c) => c.notNull())
    .addColumn("operate_user", "varchar(16)", (c) => c.notNull())
    .addColumn("log_type", "varchar(64)", (c) => c.notNull())
    .addColumn("log_description", "text", (c) => c.notNull())
    .addColumn("error_code", "varchar(64)")
    .addColumn("redo_reasons", "text", (c) => c.notNull().defaultTo("[]"))
    .addPrimaryKeyConstraint("job_operation_logs_pk", ["job_id", "seq"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("job_operation_logs").execute();
  await db.schema.dropIndex("jobs_project_client_token").execute();
  await db.schema.alterTable("jobs").dropColumn("client_token").execute();
  await db.schema.alterTable("jobs").dropColumn("options").execute();
}
