import type { Transaction } from "kysely";
import { assetOfJob, type PublishedPackage } from "../domain/asset.js";
import { backoffMs } from "../domain/backoff.js";
import { assetPublishedEvent } from "../domain/events.js";
import type { Job } from "../domain/job.js";
import type { OperationLog } from "../domain/operation-log.js";
import { STAGE_DEFINITIONS, successPath } from "../domain/pipeline.js";
import type { JobState } from "../domain/states.js";
import { insertAsset } from "../store/asset.repository.js";
import { appendEvents } from "../store/event.repository.js";
import { findVersionedJobById, type JobStatePatch } from "../store/job.repository.js";
import { claimJobInStates } from "../store/job-file.repository.js";
import { moveJob } from "../store/job-transition.repository.js";
import { appendOperationLog } from "../store/operation-log.repository.js";
import type { DatabaseSchema } from "../store/schema.js";
import { finishTask, renewLease, retryTaskLater, type TaskRecord } from "../store/task.repository.js";
import type { PipelineContext, StageResult } from "./stage.js";

/**
 * What happens to a claimed task, whoever runs it — the in-process Worker or a remote trainer over
 * the worker protocol: entering the stage's running state, and applying success, failure or a retry.
 * Each step first checks the task is still `owner`'s, so a worker whose lease was taken over changes
 * nothing.
 */

/**
 * Moves the job from the stage's queued state into its running state (e.g. WAIT_TRAINING_DATA_PREPROCESS
 * → TRAINING_DATA_PREPROCESSING) and returns it. A job already in the running state is a takeover and
 * goes on; a job anywhere else has moved on (paused, deleted, failed meanwhile): the task is dropped
 * and undefined returned, as it is when the task is no longer `owner`'s.
 */
export async function enterRunningState(
  ctx: PipelineContext,
  task: TaskRecord,
  owner: string,
  leaseMs: number,
): Promise<Job | undefined> {
  const definition = STAGE_DEFINITIONS[task.stage];
  for (;;) {
    const current = await findVersionedJobById(ctx.database.db, task.jobId);
    const state = current?.job.state;
    if (current && state === definition.runningIn) return current.job;
    if (!current || state !== definition.queuedIn) {
      await finishTask(ctx.database.db, {
        taskId: task.id,
        owner,
        now: ctx.now(),
        error: current
          ? `dropped: the job is in ${state}, not ${definition.queuedIn}`
          : "dropped: the job is gone",
      });
      return undefined;
    }
    const now = ctx.now();
    const started = await ctx.database.db.transaction().execute(async (trx) => {
      // Renewing first proves the task is still ours and (PostgreSQL) locks it until commit.
      if (!(await renewLease(trx, { taskId: task.id, owner, until: now + leaseMs, now })))
        return "lost" as const;
      const moved = await moveJob(trx, {
        jobId: task.jobId,
        projectId: current.job.projectId,
        from: definition.queuedIn,
        version: current.version,
        path: [definition.runningIn],
        log: systemLog(definition.runningIn, `${definition.queuedIn} → ${definition.runningIn}`),
        ...(task.stage === "train" && {
          patch: {
            lastTrainingTime: now,
            ...(current.job.firstTrainingTime === null && { firstTrainingTime: now }),
          },
        }),
        policy: ctx.config.pipeline,
        now,
      });
      return moved ? ("started" as const) : ("raced" as const);
    });
    if (started === "lost") return undefined;
    // "raced": a user command changed the job between the read and the move; look again.
  }
}

/** Applies a stage's success: the job moves along the stage's success path (and its next task is queued). */
export async function applySuccess(
  ctx: PipelineContext,
  task: TaskRecord,
  owner: string,
  result: StageResult,
) {
  const definition = STAGE_DEFINITIONS[task.stage];
  if (result.waitForOperator)
    return applyWait(ctx, task, owner, systemLog(definition.logType, result.description));
  return apply(
    ctx,
    task,
    owner,
    successPath(task.stage, ctx.config.pipeline),
    systemLog(definition.logType, result.description),
    {
      message: null,
      ...(result.published !== undefined && { assetId: result.published.assetId }),
    },
    // The asset's record is written with the job's move to success: never one without the other.
    result.published === undefined
      ? undefined
      : async (trx, job, now) => {
          const published = result.published as PublishedPackage;
          await insertAsset(trx, assetOfJob(job, published.assetId, published, now));
          await appendEvents(trx, job.projectId, [assetPublishedEvent(job, published.assetId)], now);
        },
  );
}

/** Applies a permanent failure: the job goes to the stage's failed state with the code and reasons. */
export async function applyFailure(
  ctx: PipelineContext,
  task: TaskRecord,
  owner: string,
  failure: { readonly errorCode: string; readonly message: string; readonly redoReasons: readonly string[] },
) {
  const definition = STAGE_DEFINITIONS[task.stage];
  return apply(
    ctx,
    task,
    owner,
    [definition.failedTo],
    {
      ...systemLog(definition.logType, failure.message),
      errorCode: failure.errorCode,
      redoReasons: [...failure.redoReasons],
    },
    { message: failure.redoReasons.join("; ") || failure.message },
  );
}

export interface RetryPolicy {
  readonly maxFailures: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxFailures: 5, backoffBaseMs: 1000, backoffCapMs: 5 * 60_000 };

/**
 * Applies a failure that may pass (a crashed tool, a full disk, a trainer's error): the task goes back
 * to the queue after a backoff, or, after `maxFailures`, the job fails saying the stage kept failing.
 * Returns the delay, or undefined when it gave up.
 */
export async function applyTransientFailure(
  ctx: PipelineContext,
  task: TaskRecord,
  owner: string,
  message: string,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<number | undefined> {
  const failures = task.failures + 1;
  if (failures >= retry.maxFailures) {
    await applyFailure(ctx, task, owner, {
      errorCode: "DOPPEL.STAGE_GAVE_UP",
      message: `${task.stage} failed ${failures} times; last: ${message}`,
      redoReasons: [
        `The ${task.stage} stage kept failing (${message}); ask the operator to check the worker's log`,
      ],
    });
    return undefined;
  }
  const delay = backoffMs(failures, retry.backoffBaseMs, retry.backoffCapMs);
  await retryTaskLater(ctx.database.db, {
    taskId: task.id,
    owner,
    now: ctx.now(),
    runAt: ctx.now() + delay,
    error: message,
  });
  return delay;
}

/**
 * Applies a stage's outcome in one transaction: the task is finished only if it is still `owner`'s,
 * and the job moves only if it is still in the stage's running state — so a stage whose lease was
 * taken over, or that ran twice, changes the job once. False when nothing was applied.
 */
async function apply(
  ctx: PipelineContext,
  task: TaskRecord,
  owner: string,
  path: readonly JobState[],
  log: Omit<OperationLog, "operateTime">,
  patch: Omit<JobStatePatch, "state" | "updateTime">,
  alongside?: (trx: Transaction<DatabaseSchema>, job: Job, now: number) => Promise<void>,
): Promise<boolean> {
  const definition = STAGE_DEFINITIONS[task.stage];
  const now = ctx.now();
  return ctx.database.db.transaction().execute(async (trx) => {
    if (!(await finishTask(trx, { taskId: task.id, owner, now }))) return false;
    const current = await findVersionedJobById(trx, task.jobId);
    if (!current || current.job.state !== definition.runningIn) return false;
    const moved = await moveJob(trx, {
      jobId: task.jobId,
      projectId: current.job.projectId,
      from: current.job.state,
      version: current.version,
      path,
      log,
      patch,
      policy: ctx.config.pipeline,
      now,
    });
    // Only a concurrent change of this very job gets here (the row was read in this transaction);
    // roll back so the task stays ours and running, and the next lease expiry retries it.
    if (!moved) throw new Error(`job ${task.jobId} changed while its ${task.stage} result was applied`);
    await alongside?.(trx, current.job, now);
    return true;
  });
}

/**
 * Finishes a task whose job must now wait for a person, leaving the job in the stage's running state
 * with a history entry saying why. Applied once, like `apply`.
 */
async function applyWait(
  ctx: PipelineContext,
  task: TaskRecord,
  owner: string,
  log: Omit<OperationLog, "operateTime">,
): Promise<boolean> {
  const definition = STAGE_DEFINITIONS[task.stage];
  const now = ctx.now();
  return ctx.database.db.transaction().execute(async (trx) => {
    if (!(await finishTask(trx, { taskId: task.id, owner, now }))) return false;
    // Bumping the version (in the state the stage runs in) locks the row for the history entry.
    if (!(await claimJobInStates(trx, task.jobId, [definition.runningIn], now))) return false;
    await appendOperationLog(trx, task.jobId, { ...log, operateTime: now });
    return true;
  });
}

function systemLog(logType: string, description: string): Omit<OperationLog, "operateTime"> {
  return { operateUser: "SYSTEM", logType, logDescription: description, errorCode: null, redoReasons: [] };
}
