import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { OperationLog } from "../domain/operation-log.js";
import { type PipelinePolicy, STAGE_DEFINITIONS, type Stage, successPath } from "../domain/pipeline.js";
import type { JobState } from "../domain/states.js";
import { findVersionedJobById, type JobStatePatch } from "../store/job.repository.js";
import { moveJob } from "../store/job-transition.repository.js";
import {
  claimTask,
  finishTask,
  releaseTask,
  renewLease,
  retryTaskLater,
  type TaskRecord,
} from "../store/task.repository.js";
import {
  type PipelineContext,
  type PipelineLogger,
  StageFailure,
  type StageHandlers,
  type StageResult,
} from "./stage.js";

export interface WorkerOptions {
  readonly handlers: StageHandlers;
  /** Stages to take tasks of; default: every stage with a handler. */
  readonly stages?: readonly Stage[];
  /** Tasks run at once. */
  readonly concurrency?: number;
  /** How long a claim lasts without a heartbeat; a dead worker's task is taken over after it. */
  readonly leaseMs?: number;
  /** How long an idle lane waits before looking for due tasks again. */
  readonly pollMs?: number;
  /** Transient failures before a task gives up and fails its job. */
  readonly maxFailures?: number;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  readonly log?: PipelineLogger;
}

const SILENT: PipelineLogger = { info() {}, warn() {}, error() {} };

/** Capped exponential backoff with jitter: base·2^(failures-1), at most `cap`, minus up to a fifth. */
export function backoffMs(failures: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (1 - random() * 0.2));
}

/**
 * Runs pipeline tasks from the database: claims a due task under a lease, moves the job into the
 * stage's running state, runs the stage's handler while renewing the lease, and applies the outcome
 * (success path, failure state, or a later retry) in one transaction that first checks the task is
 * still this worker's. Any number of workers, in any processes, may share one database.
 */
export class Worker {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  readonly #ctx: PipelineContext;
  readonly #handlers: StageHandlers;
  readonly #stages: readonly Stage[];
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #maxFailures: number;
  readonly #backoffBaseMs: number;
  readonly #backoffCapMs: number;
  readonly #log: PipelineLogger;
  readonly #stopping = new AbortController();
  #lanes: Promise<void>[] = [];
  #wakeIdle: Array<() => void> = [];

  constructor(ctx: PipelineContext, options: WorkerOptions) {
    this.#ctx = ctx;
    this.#handlers = options.handlers;
    const handled = Object.keys(options.handlers) as Stage[];
    this.#stages = (options.stages ?? handled).filter((stage) => handled.includes(stage));
    this.#concurrency = options.concurrency ?? 1;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#pollMs = options.pollMs ?? 250;
    this.#maxFailures = options.maxFailures ?? 5;
    this.#backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.#backoffCapMs = options.backoffCapMs ?? 5 * 60_000;
    this.#log = options.log ?? SILENT;
  }

  get stages(): readonly Stage[] {
    return this.#stages;
  }

  /** Starts the lanes; each runs one task at a time. */
  start(): void {
    if (this.#lanes.length > 0) return;
    this.#lanes = Array.from({ length: this.#concurrency }, () => this.#lane());
  }

  /** Wakes idle lanes: new work may be due (an in-process enqueue). */
  wake(): void {
    for (const wake of this.#wakeIdle.splice(0)) wake();
  }

  /**
   * Stops claiming and aborts running stages; their tasks go back to the queue at once, so another
   * worker (or this one, restarted) picks them up without waiting for the lease to run out.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.wake();
    await Promise.all(this.#lanes);
    this.#lanes = [];
  }

  /** Claims and runs tasks until stopped; runs one due task and returns true, or returns false when none. */
  async runOnce(): Promise<boolean> {
    const task = await claimTask(this.#ctx.database.db, {
      stages: this.#stages,
      owner: this.owner,
      now: this.#ctx.now(),
      leaseMs: this.#leaseMs,
    });
    if (!task) return false;
    await this.#run(task);
    return true;
  }

  async #lane(): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      let ran = false;
      try {
        ran = await this.runOnce();
      } catch (error) {
        // The database went away or a transaction failed: the task's lease runs out and it is taken
        // over, so nothing is lost. Wait before trying again rather than spinning.
        this.#log.error({ err: error }, "pipeline worker could not run a task");
      }
      if (!ran && !this.#stopping.signal.aborted) await this.#idle();
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#pollMs);
      const wake = () => done();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeIdle.push(wake);
    });
  }

  async #run(task: TaskRecord): Promise<void> {
    const handler = this.#handlers[task.stage];
    const job = await this.#enterRunningState(task);
    if (job === undefined || handler === undefined) return;

    const lease = new AbortController();
    const signal = AbortSignal.any([lease.signal, this.#stopping.signal]);
    let progress: number | undefined;
    const heartbeat = setInterval(
      () => {
        renewLease(this.#ctx.database.db, {
          taskId: task.id,
          owner: this.owner,
          until: this.#ctx.now() + this.#leaseMs,
          now: this.#ctx.now(),
          ...(progress !== undefined && { progress }),
        }).then(
          (held) => {
            if (!held) lease.abort(new Error("the task's lease was lost to another worker"));
          },
          (error: unknown) => this.#log.warn({ err: error, task: task.id }, "heartbeat failed"),
        );
      },
      Math.max(50, Math.floor(this.#leaseMs / 3)),
    );
    const workDir = join(this.#ctx.config.dataDir, "work", task.id);
    const log = this.#log;
    log.info({ job: task.jobId, stage: task.stage, claim: task.claims }, "stage started");
    try {
      await mkdir(workDir, { recursive: true });
      const result = await handler(this.#ctx, {
        job,
        task,
        signal,
        workDir,
        progress: (fraction) => {
          progress = fraction;
        },
        log,
      });
      if (signal.aborted) throw signal.reason;
      await this.#succeed(task, result);
      log.info({ job: task.jobId, stage: task.stage }, "stage succeeded");
    } catch (error) {
      if (this.#stopping.signal.aborted) {
        await releaseTask(this.#ctx.database.db, {
          taskId: task.id,
          owner: this.owner,
          now: this.#ctx.now(),
        });
      } else if (lease.signal.aborted) {
        log.warn({ job: task.jobId, stage: task.stage }, "stage abandoned: its lease was taken over");
      } else if (error instanceof StageFailure) {
        await this.#fail(task, error.errorCode, error.message, error.redoReasons);
        log.info({ job: task.jobId, stage: task.stage, code: error.errorCode }, "stage failed");
      } else {
        await this.#failTransiently(task, error);
      }
    } finally {
      clearInterval(heartbeat);
      await rm(workDir, { recursive: true, force: true });
    }
  }

  /**
   * Moves the job from the stage's queued state into its running state (e.g. WAIT_TRAINING_DATA_PREPROCESS
   * → TRAINING_DATA_PREPROCESSING). A job already in the running state is a takeover and goes on; a job
   * anywhere else has moved on (paused, deleted, failed meanwhile) and its task is dropped.
   */
  async #enterRunningState(task: TaskRecord) {
    const definition = STAGE_DEFINITIONS[task.stage];
    for (;;) {
      const current = await findVersionedJobById(this.#ctx.database.db, task.jobId);
      const state = current?.job.state;
      if (current && state === definition.runningIn) return current.job;
      if (!current || state !== definition.queuedIn) {
        await finishTask(this.#ctx.database.db, {
          taskId: task.id,
          owner: this.owner,
          now: this.#ctx.now(),
          error: current
            ? `dropped: the job is in ${state}, not ${definition.queuedIn}`
            : "dropped: the job is gone",
        });
        return undefined;
      }
      const now = this.#ctx.now();
      const started = await this.#ctx.database.db.transaction().execute(async (trx) => {
        // Renewing first proves the task is still ours and (PostgreSQL) locks it until commit.
        if (
          !(await renewLease(trx, { taskId: task.id, owner: this.owner, until: now + this.#leaseMs, now }))
        ) {
          return "lost" as const;
        }
        const moved = await moveJob(trx, {
          jobId: task.jobId,
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
          policy: this.#policy(),
          now,
        });
        return moved ? ("started" as const) : ("raced" as const);
      });
      if (started === "lost") return undefined;
      // "raced": a user command changed the job between the read and the move; look again.
    }
  }

  async #succeed(task: TaskRecord, result: StageResult): Promise<void> {
    const definition = STAGE_DEFINITIONS[task.stage];
    const path = successPath(task.stage, this.#policy());
    await this.#apply(task, path, systemLog(definition.logType, result.description), {
      message: null,
      ...(result.assetId !== undefined && { assetId: result.assetId }),
    });
  }

  async #fail(task: TaskRecord, errorCode: string, message: string, redoReasons: readonly string[]) {
    const definition = STAGE_DEFINITIONS[task.stage];
    await this.#apply(
      task,
      [definition.failedTo],
      { ...systemLog(definition.logType, message), errorCode, redoReasons: [...redoReasons] },
      { message: redoReasons.join("; ") || message },
    );
  }

  async #failTransiently(task: TaskRecord, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const failures = task.failures + 1;
    if (failures >= this.#maxFailures) {
      this.#log.error({ err: error, job: task.jobId, stage: task.stage }, "stage gave up");
      await this.#fail(
        task,
        "DOPPEL.STAGE_GAVE_UP",
        `${task.stage} failed ${failures} times; last: ${message}`,
        [`The ${task.stage} stage kept failing (${message}); ask the operator to check the worker's log`],
      );
      return;
    }
    const delay = backoffMs(failures, this.#backoffBaseMs, this.#backoffCapMs);
    this.#log.warn({ err: error, job: task.jobId, stage: task.stage, retryInMs: delay }, "stage will retry");
    await retryTaskLater(this.#ctx.database.db, {
      taskId: task.id,
      owner: this.owner,
      now: this.#ctx.now(),
      runAt: this.#ctx.now() + delay,
      error: message,
    });
  }

  /**
   * Applies a stage's outcome in one transaction: the task is finished only if it is still ours, and
   * the job moves only if it is still in the stage's running state — so a stage whose lease was taken
   * over, or that ran twice, changes the job once.
   */
  async #apply(
    task: TaskRecord,
    path: readonly JobState[],
    log: Omit<OperationLog, "operateTime">,
    patch: Omit<JobStatePatch, "state" | "updateTime">,
  ): Promise<void> {
    const definition = STAGE_DEFINITIONS[task.stage];
    const now = this.#ctx.now();
    await this.#ctx.database.db.transaction().execute(async (trx) => {
      if (!(await finishTask(trx, { taskId: task.id, owner: this.owner, now }))) return;
      const current = await findVersionedJobById(trx, task.jobId);
      if (!current || current.job.state !== definition.runningIn) return;
      const moved = await moveJob(trx, {
        jobId: task.jobId,
        from: current.job.state,
        version: current.version,
        path,
        log,
        patch,
        policy: this.#policy(),
        now,
      });
      // Only a concurrent change of this very job gets here (the row was read in this transaction);
      // roll back so the task stays ours and running, and the next lease expiry retries it.
      if (!moved) throw new Error(`job ${task.jobId} changed while its ${task.stage} result was applied`);
    });
  }

  #policy(): PipelinePolicy {
    return this.#ctx.config.pipeline;
  }
}

function systemLog(logType: string, description: string): Omit<OperationLog, "operateTime"> {
  return { operateUser: "SYSTEM", logType, logDescription: description, errorCode: null, redoReasons: [] };
}
