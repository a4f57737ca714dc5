import { type Kysely, PostgresAdapter, type Selectable, type Transaction } from "kysely";
import { newJobId } from "../domain/job.js";
import type { Stage } from "../domain/pipeline.js";
import type { JobState } from "../domain/states.js";
import type { DatabaseSchema, TasksTable } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface TaskRecord {
  readonly id: string;
  readonly jobId: string;
  readonly stage: Stage;
  readonly jobState: JobState;
  readonly state: "queued" | "running" | "done";
  readonly runAt: number;
  readonly claims: number;
  readonly failures: number;
  readonly leaseOwner: string | null;
  readonly leaseUntil: number | null;
  readonly progress: number;
  readonly lastError: string | null;
}

function fromRow(row: Selectable<TasksTable>): TaskRecord {
  return {
    id: row.id,
    jobId: row.job_id,
    stage: row.stage as Stage,
    jobState: row.job_state as JobState,
    state: row.state as TaskRecord["state"],
    runAt: Number(row.run_at),
    claims: Number(row.claims),
    failures: Number(row.failures),
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until === null ? null : Number(row.lease_until),
    progress: Number(row.progress),
    lastError: row.last_error,
  };
}

/**
 * Enqueues a stage for a job, due now. Called inside the transaction that moved the job into
 * `jobState`, so the task exists exactly when the state does. A live task of the same stage for the
 * job is kept instead (the partial unique index `tasks_live`).
 */
export async function enqueueTask(
  trx: Executor,
  task: { readonly jobId: string; readonly stage: Stage; readonly jobState: JobState; readonly now: number },
): Promise<void> {
  await trx
    .insertInto("tasks")
    .values({
      id: newJobId(task.now),
      job_id: task.jobId,
      stage: task.stage,
      job_state: task.jobState,
      state: "queued",
      run_at: task.now,
      create_time: task.now,
      update_time: task.now,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * Claims the next due task of one of `stages` for `owner` until `now + leaseMs`: a queued task whose
 * time has come, or a running one whose worker stopped renewing its lease (died, hung, lost its
 * database). One statement, so two workers never claim the same task: on PostgreSQL the inner select
 * locks the row and SKIP LOCKED sends a concurrent claimer to the next one; SQLite runs the statement
 * under its single writer lock, so the second claimer sees the task already running.
 */
export async function claimTask(
  db: Executor,
  claim: {
    readonly stages: readonly Stage[];
    readonly owner: string;
    readonly now: number;
    readonly leaseMs: number;
  },
): Promise<TaskRecord | undefined> {
  if (claim.stages.length === 0) return undefined;
  const skipLocked = db.getExecutor().adapter instanceof PostgresAdapter;
  const row = await db
    .updateTable("tasks")
    .set((eb) => ({
      state: "running",
      lease_owner: claim.owner,
      lease_until: claim.now + claim.leaseMs,
      claims: eb("claims", "+", 1),
      update_time: claim.now,
    }))
    // Two probes, each walking tasks_claim (state, run_at) in order and stopping at its first row. One
    // `(queued and due) or (running and expired)` filter made both engines collect every due task and
    // sort them all for the first (SQLite: MULTI-INDEX OR + temp B-tree; PostgreSQL: BitmapOr + top-N
    // sort), so each claim cost grew with the backlog. Expired leases first: few tasks run at a time, and
    // one whose worker died has waited longest.
    .where("id", "=", (eb) =>
      eb.fn.coalesce(
        eb
          .selectFrom("tasks")
          .select("id")
          .where("state", "=", "running")
          .where("lease_until", "<", claim.now)
          .where("stage", "in", [...claim.stages])
          .orderBy("run_at")
          .orderBy("id")
          .limit(1)
          .$if(skipLocked, (q) => q.forUpdate().skipLocked()),
        eb
          .selectFrom("tasks")
          .select("id")
          .where("state", "=", "queued")
          .where("run_at", "<=", claim.now)
          .where("stage", "in", [...claim.stages])
          .orderBy("run_at")
          .orderBy("id")
          .limit(1)
          .$if(skipLocked, (q) => q.forUpdate().skipLocked()),
      ),
    )
    .returningAll()
    .executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** Renews `owner`'s lease and records progress; false when the task is no longer `owner`'s. */
export async function renewLease(
  db: Executor,
  lease: {
    readonly taskId: string;
    readonly owner: string;
    readonly until: number;
    readonly progress?: number;
    readonly now: number;
  },
): Promise<boolean> {
  const result = await db
    .updateTable("tasks")
    .set({
      lease_until: lease.until,
      update_time: lease.now,
      ...(lease.progress !== undefined && { progress: Math.min(1, Math.max(0, lease.progress)) }),
    })
    .where("id", "=", lease.taskId)
    .where("lease_owner", "=", lease.owner)
    .where("state", "=", "running")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Marks `owner`'s running task done. False when it is not theirs any more (its lease ran out and
 * another worker took it over): then the caller must not apply the stage's effects. Run it first in
 * the transaction that applies them; on PostgreSQL it also locks the task row until commit.
 */
export async function finishTask(
  trx: Executor,
  task: { readonly taskId: string; readonly owner: string; readonly now: number; readonly error?: string },
): Promise<boolean> {
  const result = await trx
    .updateTable("tasks")
    .set({
      state: "done",
      lease_owner: null,
      lease_until: null,
      update_time: task.now,
      ...(task.error !== undefined && { last_error: task.error }),
    })
    .where("id", "=", task.taskId)
    .where("lease_owner", "=", task.owner)
    .where("state", "=", "running")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Puts `owner`'s running task back in the queue, due at `runAt`, counting one more failure. */
export async function retryTaskLater(
  db: Executor,
  task: {
    readonly taskId: string;
    readonly owner: string;
    readonly now: number;
    readonly runAt: number;
    readonly error: string;
  },
): Promise<boolean> {
  const result = await db
    .updateTable("tasks")
    .set((eb) => ({
      state: "queued",
      run_at: task.runAt,
      failures: eb("failures", "+", 1),
      lease_owner: null,
      lease_until: null,
      last_error: task.error,
      update_time: task.now,
    }))
    .where("id", "=", task.taskId)
    .where("lease_owner", "=", task.owner)
    .where("state", "=", "running")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Hands `owner`'s running task back to the queue, due now, without counting a failure (a worker stopping). */
export async function releaseTask(
  db: Executor,
  task: { readonly taskId: string; readonly owner: string; readonly now: number },
): Promise<boolean> {
  const result = await db
    .updateTable("tasks")
    .set({ state: "queued", run_at: task.now, lease_owner: null, lease_until: null, update_time: task.now })
    .where("id", "=", task.taskId)
    .where("lease_owner", "=", task.owner)
    .where("state", "=", "running")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A job's tasks, oldest first. */
export async function listTasksOfJob(db: Executor, jobId: string): Promise<TaskRecord[]> {
  const rows = await db
    .selectFrom("tasks")
    .selectAll()
    .where("job_id", "=", jobId)
    .orderBy("create_time")
    .orderBy("id")
    .execute();
  return rows.map(fromRow);
}

/** A task by id. */
export async function findTask(db: Executor, taskId: string): Promise<TaskRecord | undefined> {
  const row = await db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** Live tasks (queued or running), the due or running ones first, for operators watching the pipeline. */
export async function listLiveTasks(
  db: Executor,
  page: { readonly offset: number; readonly limit: number },
): Promise<{ count: number; tasks: TaskRecord[] }> {
  const live = ["queued", "running"];
  const [counted, rows] = await Promise.all([
    db
      .selectFrom("tasks")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("state", "in", live)
      .executeTakeFirst(),
    db
      .selectFrom("tasks")
      .selectAll()
      .where("state", "in", live)
      .orderBy("state", "desc")
      .orderBy("run_at")
      .orderBy("id")
      .offset(page.offset)
      .limit(page.limit)
      .execute(),
  ]);
  return { count: Number(counted?.n ?? 0), tasks: rows.map(fromRow) };
}
