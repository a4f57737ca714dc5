import type { Kysely } from "kysely";

/**
 * Uploaded media (ICE `CreateUploadMedia`): the files `Video` and `Portrait` of an avatar training job
 * name by id. Also an index for looking avatars up by their asset id (ICE `GetAvatar`, `ListAvatars`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("media")
    .addColumn("id", "char(32)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("media_type", "varchar(16)", (c) => c.notNull())
    .addColumn("file_name", "varchar(255)")
    .addColumn("state", "varchar(16)", (c) => c.notNull())
    // Null until the upload arrives: the content, its digests and its sniffed type.
    .addColumn("blob_key", "varchar(255)")
    .addColumn("size", "bigint")
    .addColumn("sha256", "char(64)")
    .addColumn("etag", "char(32)")
    .addColumn("mime", "varchar(128)")
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("upload_time", "bigint")
    .execute();
  await db.schema.createIndex("media_project").on("media").columns(["project_id", "create_time"]).execute();

  // GetAvatar finds a job by its asset id; ListAvatars counts a project's jobs that have one. Without it
  // both read every job row of the project.
  await db.schema.createIndex("jobs_project_asset").on("jobs").columns(["project_id", "asset_id"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("jobs_project_asset").execute();
  await db.schema.dropTable("media").execute();
}
