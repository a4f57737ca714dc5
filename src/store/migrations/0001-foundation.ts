import { type Kysely, sql } from "kysely";

/** Projects, credentials, nonces and jobs with the indexes every list query needs. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("projects")
    .addColumn("id", "varchar(64)", (c) => c.primaryKey())
    .addColumn("name", "varchar(255)", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("access_keys")
    .addColumn("id", "varchar(64)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("secret_ciphertext", "text", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("disabled", "smallint", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex("access_keys_project").on("access_keys").column("project_id").execute();

  await db.schema
    .createTable("tokens")
    .addColumn("token_hash", "varchar(64)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("expire_time", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("nonces")
    .addColumn("access_key_id", "varchar(64)", (c) => c.notNull())
    .addColumn("nonce", "varchar(255)", (c) => c.notNull())
    .addColumn("expire_time", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("nonces_pk", ["access_key_id", "nonce"])
    .execute();
  // Expired nonces are swept by time.
  await db.schema.createIndex("nonces_expire").on("nonces").column("expire_time").execute();

  await db.schema
    .createTable("jobs")
    .addColumn("id", "char(32)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("app_user_id", "varchar(128)")
    .addColumn("name", "varchar(255)", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("avatar_type", "varchar(32)", (c) => c.notNull())
    .addColumn("state", "varchar(48)", (c) => c.notNull())
    .addColumn("batch_name", "varchar(255)")
    .addColumn("tags", "text", (c) => c.notNull().defaultTo(sql`'[]'`))
    .addColumn("model_version", "varchar(16)", (c) => c.notNull())
    .addColumn("matting_type", "varchar(16)", (c) => c.notNull())
    .addColumn("model_resolution", "varchar(16)", (c) => c.notNull())
    .addColumn("asset_id", "varchar(64)")
    .addColumn("contact", "varchar(255)")
    .addColumn("message", "text")
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("update_time", "bigint", (c) => c.notNull())
    .addColumn("first_training_time", "bigint")
    .addColumn("last_training_time", "bigint")
    .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
    .execute();

  // One index per list order and per selective filter, each ending in the sort columns so the page
  // is read in index order and deep offsets skip index entries only (see job.repository.ts).
  const jobIndexes: Array<[string, string[]]> = [
    ["jobs_project_create", ["project_id", "create_time", "id"]],
    ["jobs_project_update", ["project_id", "update_time", "id"]],
    ["jobs_project_state_create", ["project_id", "state", "create_time", "id"]],
    ["jobs_project_user_create", ["project_id", "app_user_id", "create_time", "id"]],
    ["jobs_project_batch_create", ["project_id", "batch_name", "create_time", "id"]],
  ];
  for (const [name, columns] of jobIndexes) {
    await db.schema.createIndex(name).on("jobs").columns(columns).execute();
  }

  await db.schema
    .createTable("job_tags")
    .addColumn("job_id", "char(32)", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("project_id", "varchar(64)", (c) => c.notNull())
    .addColumn("tag", "varchar(255)", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("job_tags_pk", ["job_id", "tag"])
    .execute();
  await db.schema
    .createIndex("job_tags_project_tag")
    .on("job_tags")
    .columns(["project_id", "tag", "create_time", "job_id"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["job_tags", "jobs", "nonces", "tokens", "access_keys", "projects"]) {
    await db.schema.dropTable(table).execute();
  }
}
