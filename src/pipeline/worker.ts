import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Stage } from "../domain/pipeline.js";
import { claimTask, releaseTask, renewLease, type TaskRecord } from "../store/task.repository.js";
import { type PipelineContext, type PipelineLogger, StageFailure, type StageHandlers } from "./stage.js";
import {
  applyFailure,
  applySuccess,
  applyTransientFailure,
  DEFAULT_RETRY,
  enterRunningState,
  type RetryPolicy,
} from "./task-lifecycle.js";

export { backoffMs } from "../domain/backoff.js";

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
  readonly #retry: RetryPolicy;
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
    this.#retry = {
      maxFailures: options.maxFailures ?? DEFAULT_RETRY.maxFailures,
      backoffBaseMs: options.backoffBaseMs ?? DEFAULT_RETRY.backoffBaseMs,
      backoffCapMs: options.backoffCapMs ?? DEFAULT_RETRY.backoffCapMs,
    };
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

  /** Ends every lane's idle wait at once, so a stopping worker does not sit out its poll interval. */
  #wakeIdleLanes(): void {
    for (const wake of this.#wakeIdle.splice(0)) wake();
  }

  /**
   * Stops claiming and aborts running stages; their tasks go back to the queue at once, so another
   * worker (or this one, restarted) picks them up without waiting for the lease to run out.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#wakeIdleLanes();
    await Promise.all(this.#lanes);
    this.#lanes = [];
  }

  /** Claims one due task and runs it (true), or finds none (false); the lanes call it in a loop, tests step with it. */
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
    const job = await enterRunningState(this.#ctx, task, this.owner, this.#leaseMs);
    if (job === undefined || handler === undefined) return;

    const lease = new AbortController();
    // Aborted by a lost lease or by stop(). (By hand: AbortSignal.any needs Node 20.3.)
    const onStop = () => lease.abort(this.#stopping.signal.reason);
    if (this.#stopping.signal.aborted) onStop();
    else this.#stopping.signal.addEventListener("abort", onStop, { once: true });
    const signal = lease.signal;
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
    // One scratch directory per claim: a worker that lost its lease but still runs must not delete the
    // directory its successor is using, and a successor never starts on a killed run's leftovers.
    const workRoot = join(this.#ctx.config.dataDir, "work");
    const workDir = join(workRoot, `${task.id}-${task.claims}`);
    let madeWorkDir = false;
    for (let earlier = 1; earlier < task.claims; earlier++) {
      await rm(join(workRoot, `${task.id}-${earlier}`), { recursive: true, force: true });
    }
    const log = this.#log;
    log.info({ job: task.jobId, stage: task.stage, claim: task.claims }, "stage started");
    try {
      const result = await handler(this.#ctx, {
        job,
        task,
        signal,
        // Made on first use and removed only if made: a mkdir + rm per run cost 0.5–1.3 ms of disk time,
        // most of a run of a stage that needs no files (review). Synchronous, once per run that does use
        // it (runs that take seconds).
        get workDir() {
          if (!madeWorkDir) {
            mkdirSync(workDir, { recursive: true });
            madeWorkDir = true;
          }
          return workDir;
        },
        progress: (fraction) => {
          progress = fraction;
        },
        log,
      });
      if (signal.aborted) throw signal.reason;
      await applySuccess(this.#ctx, task, this.owner, result);
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
        await applyFailure(this.#ctx, task, this.owner, error);
        log.info({ job: task.jobId, stage: task.stage, code: error.errorCode }, "stage failed");
      } else {
        const message = error instanceof Error ? error.message : String(error);
        const delay = await applyTransientFailure(this.#ctx, task, this.owner, message, this.#retry);
        if (delay === undefined)
          log.error({ err: error, job: task.jobId, stage: task.stage }, "stage gave up");
        else
          log.warn({ err: error, job: task.jobId, stage: task.stage, retryInMs: delay }, "stage will retry");
      }
    } finally {
      this.#stopping.signal.removeEventListener("abort", onStop);
      clearInterval(heartbeat);
      if (madeWorkDir) await rm(workDir, { recursive: true, force: true });
    }
  }
}
