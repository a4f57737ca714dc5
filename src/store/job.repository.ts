import {
  type Expression,
  type Insertable,
  type Kysely,
  type Selectable,
  type SqlBool,
  sql,
  type Transaction,
} from "kysely";
import { DoppelError } from "../domain/errors.js";
import type { Job } from "../domain/job.js";
import type { JobOptions } from "../domain/job-options.js";
import type { JobState } from "../domain/states.js";
import type { DatabaseKind } from "./database.js";
import { parseJobOptions } from "./job-options-json.js";
import type { DatabaseSchema, JobsTable } from "./schema.js";
import { containsText } from "./sql-text.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** What a list may be narrowed by. Every field is optional except the project. */
export interface JobFilter {
  readonly projectId: string;
  readonly appUserId?: string | undefined;
  readonly states?: readonly JobState[] | undefined;
  readonly createSince?: number | undefined;
  readonly createUntil?: number | undefined;
  readonly updateSince?: number | undefined;
  readonly updateUntil?: number | undefined;
  readonly batchName?: string | undefined;
  readonly tag?: string | undefined;
  readonly jobId?: string | undefined;
  /** Substring of the job name, case-sensitive. */
  readonly nameContains?: string | undefined;
  readonly modelResolution?: string | undefined;
}

export interface JobPage {
  readonly offset: number;
  readonly limit: number;
  readonly sortKey: "create_time" | "update_time";
  readonly sortDir: "asc" | "desc";
}

export interface JobList {
  readonly count: number;
  readonly jobs: Job[];
}

/** Inserts jobs (and their tag rows) in one statement per table; used by create and by the seeder. */
export async function insertJobs(db: Executor, jobs: readonly Job[]): Promise<void> {
  if (jobs.length === 0) return;
  await db.insertInto("jobs").values(jobs.map(toRow)).execute();
  await insertTagRows(db, jobs);
}

/** Inserts one job with its creation options and idempotency token. */
export async function insertJob(
  db: Executor,
  job: Job,
  extra: { options: JobOptions; clientToken: string | null },
): Promise<void> {
  await db
    .insertInto("jobs")
    .values({ ...toRow(job), options: JSON.stringify(extra.options), client_token: extra.clientToken })
    .execute();
  await insertTagRows(db, [job]);
}

/** A job's creation options; JOB_NOT_FOUND when a concurrent delete removed the job since it was read. */
export async function findJobOptions(db: Executor, jobId: string): Promise<JobOptions> {
  const row = await db.selectFrom("jobs").select("options").where("id", "=", jobId).executeTakeFirst();
  if (!row) throw new DoppelError("JOB_NOT_FOUND", `No job ${jobId}; it was deleted`);
  return parseJobOptions(row.options);
}

/** Deletes a job (its tags and logs go with it). */
export async function deleteJobRow(db: Executor, projectId: string, jobId: string): Promise<boolean> {
  const result = await db
    .deleteFrom("jobs")
    .where("project_id", "=", projectId)
    .where("id", "=", jobId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/** The row of one job (of `projectId`, when given), or undefined: the one select every reader shares. */
function jobRow(db: Executor, jobId: string, projectId?: string) {
  let query = db.selectFrom("jobs").selectAll().where("id", "=", jobId);
  if (projectId !== undefined) query = query.where("project_id", "=", projectId);
  return query.executeTakeFirst();
}

/** Reads one job of a project, or undefined. */
export async function findJob(db: Executor, projectId: string, jobId: string): Promise<Job | undefined> {
  const row = await jobRow(db, jobId, projectId);
  return row ? fromRow(row) : undefined;
}

/**
 * One page of a project's jobs plus the total that match.
 *
 * The page is a deferred join: the inner query walks only the (project, …, sort key, id) index to skip
 * `offset` entries and pick `limit` ids, and only those rows are read from the table. A plain
 * `select * … offset 100000` would read 100,000 table rows just to throw them away.
 */
export async function listJobs(
  db: Executor,
  kind: DatabaseKind,
  filter: JobFilter,
  page: JobPage,
): Promise<JobList> {
  const { sortKey, sortDir } = page;
  const pageIds = db
    .selectFrom("jobs")
    .select("jobs.id")
    .where((eb) => eb.and(conditions(kind, filter)))
    .orderBy(sortKey, sortDir)
    .orderBy("id", sortDir)
    .limit(page.limit)
    .offset(page.offset);
  const rowsQuery = db
    .selectFrom("jobs")
    .selectAll()
    .where("id", "in", pageIds)
    .orderBy(sortKey, sortDir)
    .orderBy("id", sortDir);
  const countQuery = db
    .selectFrom("jobs")
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .where((eb) => eb.and(conditions(kind, filter)));
  // On PostgreSQL the two queries run on two pooled connections at once; SQLite runs them in turn.
  const [rows, counted] = await Promise.all([rowsQuery.execute(), countQuery.executeTakeFirstOrThrow()]);
  return { count: Number(counted.count), jobs: rows.map(fromRow) };
}

function conditions(kind: DatabaseKind, f: JobFilter): Expression<SqlBool>[] {
  const out: Expression<SqlBool>[] = [sql<SqlBool>`jobs.project_id = ${f.projectId}`];
  if (f.appUserId !== undefined) out.push(sql<SqlBool>`jobs.app_user_id = ${f.appUserId}`);
  if (f.states !== undefined) {
    out.push(
      f.states.length === 0
        ? sql<SqlBool>`1 = 0`
        : sql<SqlBool>`jobs.state in (${sql.join(f.states.map((s) => sql`${s}`))})`,
    );
  }
  if (f.createSince !== undefined) out.push(sql<SqlBool>`jobs.create_time >= ${f.createSince}`);
  if (f.createUntil !== undefined) out.push(sql<SqlBool>`jobs.create_time <= ${f.createUntil}`);
  if (f.updateSince !== undefined) out.push(sql<SqlBool>`jobs.update_time >= ${f.updateSince}`);
  if (f.updateUntil !== undefined) out.push(sql<SqlBool>`jobs.update_time <= ${f.updateUntil}`);
  if (f.batchName !== undefined) out.push(sql<SqlBool>`jobs.batch_name = ${f.batchName}`);
  if (f.jobId !== undefined) out.push(sql<SqlBool>`jobs.id = ${f.jobId}`);
  if (f.modelResolution !== undefined) out.push(sql<SqlBool>`jobs.model_resolution = ${f.modelResolution}`);
  if (f.tag !== undefined) {
    out.push(
      sql<SqlBool>`jobs.id in (select t.job_id from job_tags t where t.project_id = ${f.projectId} and t.tag = ${f.tag})`,
    );
  }
  if (f.nameContains !== undefined) {
    out.push(containsText(kind, "jobs.name", f.nameContains));
  }
  return out;
}

function toRow(job: Job): Insertable<JobsTable> {
  return {
    id: job.id,
    project_id: job.projectId,
    app_user_id: job.appUserId,
    name: job.name,
    description: job.description,
    avatar_type: job.avatarType,
    state: job.state,
    batch_name: job.batchName,
    tags: JSON.stringify(job.tags),
    model_version: job.modelVersion,
    matting_type: job.mattingType,
    model_resolution: job.modelResolution,
    asset_id: job.assetId,
    contact: job.contact,
    message: job.message,
    create_time: job.createTime,
    update_time: job.updateTime,
    first_training_time: job.firstTrainingTime,
    last_training_time: job.lastTrainingTime,
  };
}

function fromRow(row: Selectable<JobsTable>): Job {
  return {
    id: row.id,
    projectId: row.project_id,
    appUserId: row.app_user_id,
    name: row.name,
    description: row.description,
    avatarType: row.avatar_type,
    state: row.state as JobState,
    batchName: row.batch_name,
    tags: JSON.parse(row.tags) as string[],
    modelVersion: row.model_version,
    mattingType: row.matting_type,
    modelResolution: row.model_resolution,
    assetId: row.asset_id,
    contact: row.contact,
    message: row.message,
    createTime: Number(row.create_time),
    updateTime: Number(row.update_time),
    firstTrainingTime: row.first_training_time === null ? null : Number(row.first_training_time),
    lastTrainingTime: row.last_training_time === null ? null : Number(row.last_training_time),
  };
}

/** A job with what a change needs: its version (optimistic concurrency), pause origin and options. */
export interface VersionedJob {
  readonly job: Job;
  readonly version: number;
  readonly pausedFrom: string | null;
  readonly options: JobOptions;
}

/** Reads a job with its version, or undefined. */
export async function findVersionedJob(
  db: Executor,
  projectId: string,
  jobId: string,
): Promise<VersionedJob | undefined> {
  const row = await jobRow(db, jobId, projectId);
  return row && versioned(row);
}

/** A job with its version by id alone, for workers (which act for no project). */
export async function findVersionedJobById(db: Executor, jobId: string): Promise<VersionedJob | undefined> {
  const row = await jobRow(db, jobId);
  return row && versioned(row);
}

function versioned(row: Selectable<JobsTable>): VersionedJob {
  return {
    job: fromRow(row),
    version: Number(row.version),
    pausedFrom: row.paused_from,
    options: parseJobOptions(row.options),
  };
}

/** What a state change may set besides the state. */
export interface JobStatePatch {
  readonly state: JobState;
  readonly updateTime: number;
  readonly message?: string | null;
  readonly pausedFrom?: string | null;
  readonly assetId?: string | null;
  readonly firstTrainingTime?: number | null;
  readonly lastTrainingTime?: number | null;
}

/**
 * Applies a state change if the job is still at `version`; false when another change won the race
 * (optimistic concurrency: the same statement on both engines, no lock held between read and write).
 */
export async function updateJobState(
  db: Executor,
  jobId: string,
  version: number,
  patch: JobStatePatch,
): Promise<boolean> {
  const result = await db
    .updateTable("jobs")
    .set({
      state: patch.state,
      update_time: patch.updateTime,
      version: version + 1,
      ...(patch.message !== undefined && { message: patch.message }),
      ...(patch.pausedFrom !== undefined && { paused_from: patch.pausedFrom }),
      ...(patch.assetId !== undefined && { asset_id: patch.assetId }),
      ...(patch.firstTrainingTime !== undefined && { first_training_time: patch.firstTrainingTime }),
      ...(patch.lastTrainingTime !== undefined && { last_training_time: patch.lastTrainingTime }),
    })
    .where("id", "=", jobId)
    .where("version", "=", version)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A job by id alone, for requests authorised by a signed URL rather than a credential. */
export async function findJobById(db: Executor, jobId: string): Promise<Job | undefined> {
  const row = await jobRow(db, jobId);
  return row ? fromRow(row) : undefined;
}

/** The user-editable fields of a job. */
export interface JobEdit {
  readonly name?: string;
  readonly description?: string | null;
  readonly contact?: string | null;
  readonly batchName?: string | null;
  readonly tags?: readonly string[];
  readonly modelVersion?: string;
  readonly mattingType?: string;
  readonly modelResolution?: string;
  readonly options?: JobOptions;
}

/** Applies a user edit if the job is still at `version`; false when another change won the race. */
export async function updateJobFields(
  db: Executor,
  job: Job,
  version: number,
  edit: JobEdit,
  updateTime: number,
): Promise<boolean> {
  const result = await db
    .updateTable("jobs")
    .set({
      update_time: updateTime,
      version: version + 1,
      ...(edit.name !== undefined && { name: edit.name }),
      ...(edit.description !== undefined && { description: edit.description }),
      ...(edit.contact !== undefined && { contact: edit.contact }),
      ...(edit.batchName !== undefined && { batch_name: edit.batchName }),
      ...(edit.tags !== undefined && { tags: JSON.stringify(edit.tags) }),
      ...(edit.modelVersion !== undefined && { model_version: edit.modelVersion }),
      ...(edit.mattingType !== undefined && { matting_type: edit.mattingType }),
      ...(edit.modelResolution !== undefined && { model_resolution: edit.modelResolution }),
      ...(edit.options !== undefined && { options: JSON.stringify(edit.options) }),
    })
    .where("id", "=", job.id)
    .where("version", "=", version)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return false;
  if (edit.tags !== undefined) {
    await db.deleteFrom("job_tags").where("job_id", "=", job.id).execute();
    await insertTagRows(db, [{ ...job, tags: edit.tags }]);
  }
  return true;
}

/** The `job_tags` rows that serve the tag filter, one per distinct tag of each job. */
async function insertTagRows(db: Executor, jobs: readonly Job[]): Promise<void> {
  const rows = jobs.flatMap((job) =>
    [...new Set(job.tags)].map((tag) => ({
      job_id: job.id,
      project_id: job.projectId,
      tag,
      create_time: job.createTime,
    })),
  );
  if (rows.length > 0) await db.insertInto("job_tags").values(rows).execute();
}

/** The creation options of several jobs at once, by job id. */
export async function findJobOptionsOf(
  db: Executor,
  jobIds: readonly string[],
): Promise<Map<string, JobOptions>> {
  if (jobIds.length === 0) return new Map();
  const rows = await db.selectFrom("jobs").select(["id", "options"]).where("id", "in", jobIds).execute();
  return new Map(rows.map((row) => [row.id, parseJobOptions(row.options)]));
}

/** Jobs of every project in `state`, least recently changed first, and how many there are. */
export async function listJobsInState(
  db: Executor,
  state: JobState,
  page: { readonly offset: number; readonly limit: number },
): Promise<{ count: number; jobs: Job[] }> {
  const [counted, rows] = await Promise.all([
    db
      .selectFrom("jobs")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("state", "=", state)
      .executeTakeFirst(),
    db
      .selectFrom("jobs")
      .selectAll()
      .where("state", "=", state)
      .orderBy("update_time")
      .orderBy("id")
      .offset(page.offset)
      .limit(page.limit)
      .execute(),
  ]);
  return { count: Number(counted?.n ?? 0), jobs: rows.map(fromRow) };
}
