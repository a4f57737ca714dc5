import { type Kysely, PostgresAdapter, type Transaction } from "kysely";
import { stateChangeEvents } from "../domain/events.js";
import type { OperationLog } from "../domain/operation-log.js";
import { type PipelinePolicy, stageQueuedIn } from "../domain/pipeline.js";
import { canTransition, type JobState } from "../domain/states.js";
import { appendEvents } from "./event.repository.js";
import { type JobStatePatch, updateJobState } from "./job.repository.js";
import { appendOperationLog, historyInsertPostgres } from "./operation-log.repository.js";
import type { DatabaseSchema } from "./schema.js";
import { enqueueTask } from "./task.repository.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** A move of one job from the state it is in, read at `version`, along `path`. */
export interface JobMove {
  readonly jobId: string;
  /** The job's project, whose event sequence numbers the move's events. */
  readonly projectId: string;
  readonly from: JobState;
  readonly version: number;
  /** States entered in order; the job ends in the last. Each step must be in the transition table. */
  readonly path: readonly JobState[];
  /** History entry of the first step; the later steps get plain `A → B` entries of the same author. */
  readonly log: Omit<OperationLog, "operateTime">;
  /** Fields set with the last state (message, asset id, …). */
  readonly patch?: Omit<JobStatePatch, "state" | "updateTime">;
  readonly policy: PipelinePolicy;
  readonly now: number;
}

/**
 * Moves a job along `move.path` in the caller's transaction: one optimistic update to the final
 * state, one history entry and one event (the outbox) per step, and the task the final state calls
 * for — so the state, its work and its announcement commit together or not at all. False when the
 * job is no longer at `move.version` (another change won); the caller's transaction then applies
 * nothing of it.
 */
export async function moveJob(trx: Executor, move: JobMove): Promise<boolean> {
  const last = move.path.at(-1);
  if (last === undefined) throw new Error("a job move needs at least one state");
  let from = move.from;
  for (const to of move.path) {
    if (!canTransition(from, to)) throw new Error(`transition ${from} → ${to} is not in the table`);
    from = to;
  }
  const applied = await updateJobState(trx, move.jobId, move.version, {
    ...move.patch,
    state: last,
    updateTime: move.now,
  });
  if (!applied) return false;
  // One history entry per step: the first the caller's, the later ones plain `A → B` entries.
  from = move.from;
  const logs = move.path.map((to, i): OperationLog => {
    const log: OperationLog =
      i === 0
        ? { ...move.log, operateTime: move.now }
        : {
            operateTime: move.now,
            operateUser: move.log.operateUser,
            logType: to,
            logDescription: `${from} → ${to}`,
            errorCode: null,
            redoReasons: [],
          };
    from = to;
    return log;
  });
  const events = stateChangeEvents(move.jobId, move.from, move.path, move.log, move.patch?.assetId);
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    // History and events in one round trip: the outbox adds no round trip to a move (bench:events).
    await appendEvents(trx, move.projectId, events, move.now, historyInsertPostgres(move.jobId, logs));
  } else {
    for (const log of logs) await appendOperationLog(trx, move.jobId, log);
    await appendEvents(trx, move.projectId, events, move.now);
  }
  const stage = stageQueuedIn(last, move.policy);
  if (stage !== undefined)
    await enqueueTask(trx, { jobId: move.jobId, stage, jobState: last, now: move.now });
  return true;
}
