import type { Kysely } from "kysely";

/** What the job lifecycle needs: creation options, idempotency tokens, files and operation logs. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("jobs")
    .addColumn("options", "text", (c) => c.notNull().defaultTo("{}"))
    .execute();
  await db.schema.alterTable("jobs").addColumn("client_token", "varchar(128)").execute();
  // The state a job was in when CONFIRM_PENDING suspended it; CONFIRM_ACTIVE returns it there.
  await db.schema.alterTable("jobs").addColumn("paused_from", "varchar(48)").execute();
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

  // Whole files of a job (assembled videos, grant file, cover, audio); parts live only in the blob store.
  await db.schema
    .createTable("job_files")
    .addColumn("job_id", "char(32)", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("slot", "varchar(32)", (c) => c.notNull())
    .addColumn("blob_key", "varchar(255)", (c) => c.notNull())
    .addColumn("size", "bigint", (c) => c.notNull())
    .addColumn("sha256", "char(64)", (c) => c.notNull())
    .addColumn("etag", "char(32)", (c) => c.notNull())
    .addColumn("content_type", "varchar(128)", (c) => c.notNull())
    .addColumn("upload_time", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("job_files_pk", ["job_id", "slot"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("job_files").execute();
  await db.schema.alterTable("jobs").dropColumn("paused_from").execute();
  await db.schema.dropTable("job_operation_logs").execute();
  await db.schema.dropIndex("jobs_project_client_token").execute();
  await db.schema.alterTable("jobs").dropColumn("client_token").execute();
  await db.schema.alterTable("jobs").dropColumn("options").execute();
}
