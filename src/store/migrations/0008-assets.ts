import { type Kysely, sql } from "kysely";

/**
 * Trained avatars as assets of their own (issue 10): a published package gets a row that the asset
 * APIs list, show, rename and delete without touching the job that made it. The files are the
 * package's (its manifest lists each with size and sha256), so they need no table. Jobs that already
 * have an asset from before this migration get their row from the job.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("assets")
    .addColumn("id", "char(32)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    // The job that made it; the asset outlives neither its project nor (as MetaStudio does) its job.
    .addColumn("job_id", "char(32)", (c) => c.notNull().unique())
    .addColumn("app_user_id", "varchar(128)")
    .addColumn("name", "varchar(255)", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("tags", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("asset_type", "varchar(32)", (c) => c.notNull())
    .addColumn("state", "varchar(16)", (c) => c.notNull())
    // What the 2D human model was trained as (the job's model_version and model_resolution).
    .addColumn("model_version", "varchar(16)", (c) => c.notNull())
    .addColumn("model_resolution", "varchar(16)", (c) => c.notNull())
    // From the package's manifest; null for assets published before this migration until first shown.
    .addColumn("width", "integer")
    .addColumn("height", "integer")
    .addColumn("fps", "integer")
    .addColumn("frame_count", "integer")
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("update_time", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("assets_project")
    .on("assets")
    .columns(["project_id", "create_time", "id"])
    .execute();

  await sql`
    insert into assets (id, project_id, job_id, app_user_id, name, description, tags, asset_type, state,
                        model_version, model_resolution, create_time, update_time)
    select asset_id, project_id, id, app_user_id, name, description, tags, 'HUMAN_MODEL_2D', 'ACTIVED',
           model_version, model_resolution, update_time, update_time
    from jobs
    where asset_id is not null
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("assets").execute();
}
