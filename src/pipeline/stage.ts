import type { BlobStore } from "../blobs/blob-store.js";
import type { Config } from "../config/config.js";
import type { PublishedPackage } from "../domain/asset.js";
import type { Job } from "../domain/job.js";
import type { Stage } from "../domain/pipeline.js";
import type { Database } from "../store/database.js";
import type { TaskRecord } from "../store/task.repository.js";

/** What a worker runs with: the same database and blob store as the API, and a clock. */
export interface PipelineContext {
  readonly database: Database;
  readonly blobs: BlobStore;
  readonly config: Config;
  readonly now: () => number;
}

/** Where a worker's messages go (pino's shape, so Fastify's logger fits). */
export interface PipelineLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** One run of a stage for one job. */
export interface StageRun {
  readonly job: Job;
  readonly task: TaskRecord;
  /** Aborted when the worker stops or loses the task's lease: stop soon, apply nothing. */
  readonly signal: AbortSignal;
  /** A scratch directory of this run, removed afterwards. */
  readonly workDir: string;
  /** Reports progress (0..1) with the next heartbeat. */
  progress(fraction: number): void;
  readonly log: PipelineLogger;
}

/** What a successful stage tells the job: its history entry and fields to set. */
export interface StageResult {
  readonly description: string;
  /** The package stage published an avatar: the job gets its id and the asset its record. */
  readonly published?: PublishedPackage;
  /**
   * The job stays where it is, waiting for a person (an operator's review), and the task is done:
   * `description` says why. Used by the automatic review for what no machine can check.
   */
  readonly waitForOperator?: boolean;
}

/**
 * Runs one stage. It must be idempotent — a run may be repeated after a crash or a lost lease — so it
 * writes its outputs under keys derived from the job, replacing what an earlier attempt left. Throw
 * StageFailure for a problem retrying cannot fix; anything else is retried with backoff.
 */
export type StageHandler = (ctx: PipelineContext, run: StageRun) => Promise<StageResult>;

export type StageHandlers = Readonly<Partial<Record<Stage, StageHandler>>>;

/** A failure that retrying cannot fix (a bad video, a refused review): the job fails with reasons. */
export class StageFailure extends Error {
  override readonly name = "StageFailure";
  /**
   * @param errorCode stable code for `operation_logs.error_code`
   * @param redoReasons what the user should do, one sentence each
   */
  constructor(
    readonly errorCode: string,
    message: string,
    readonly redoReasons: readonly string[] = [message],
  ) {
    super(message);
  }
}
