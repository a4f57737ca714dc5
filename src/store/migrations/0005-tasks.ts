import { type Kysely, sql } from "kysely";

/**
 * Durable pipeline tasks: the work a job's state calls for (verify, review, preprocess, train,
 * package), enqueued in the same transaction as the state change. Queue state (queued / running /
 * done, lease, failures) lives here, apart from the job's domain state.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("tasks")
    .addColumn("id", "char(32)", (c) => c.primaryKey())
    .addColumn("job_id", "char(32)", (c) => c.notNull().references("jobs.id").onDelete("cascade"))
    .addColumn("stage", "varchar(32)", (c) => c.notNull())
    // The job state the task was enqueued for; a task whose job has moved on is stale and dropped.
    .addColumn("job_state", "varchar(48)", (c) => c.notNull())
    .addColumn("state", "varchar(16)", (c) => c.notNull())
    .addColumn("run_at", "bigint", (c) => c.notNull())
    .addColumn("claims", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("lease_owner", "varchar(128)")
    .addColumn("lease_until", "bigint")
    .addColumn("progress", "real", (c) => c.notNull().defaultTo(0))
    .addColumn("last_error", "text")
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("update_time", "bigint", (c) => c.notNull())
    .execute();
  // The claim query's filter and order: queued tasks that are due, running ones whose lease ran out.
  await db.schema.createIndex("tasks_claim").on("tasks").columns(["state", "run_at"]).execute();
  await db.schema.createIndex("tasks_job").on("tasks").columns(["job_id"]).execute();
  // At most one live task per job and stage: a state entered twice (a retried request, a resumed job)
  // cannot run the same stage twice at once. Partial unique indexes exist on both databases.
  await sql`create unique index tasks_live on tasks (job_id, stage) where state in ('queued', 'running')`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("tasks").execute();
}
