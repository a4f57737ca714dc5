import type { Job } from "../../src/domain/job.js";
import { newJobId } from "../../src/domain/job.js";
import { DEFAULT_JOB_OPTIONS } from "../../src/domain/job-options.js";
import type { JobState } from "../../src/domain/states.js";
import type { StageRun } from "../../src/pipeline/stage.js";
import type { Runtime } from "../../src/services/runtime.js";
import { insertJob } from "../../src/store/job.repository.js";
import { moveJob } from "../../src/store/job-transition.repository.js";

/** A job row as a create would make it (WAIT_FILE_UPLOAD, defaults), with `overrides` applied. */
export function newJobRow(projectId: string, now: number, overrides: Partial<Job> = {}): Job {
  return {
    id: newJobId(now),
    projectId,
    appUserId: null,
    name: "pipeline",
    description: null,
    avatarType: "2DAvatar",
    state: "WAIT_FILE_UPLOAD",
    batchName: null,
    tags: [],
    modelVersion: "V3",
    mattingType: "AI",
    modelResolution: "1080P",
    assetId: null,
    contact: null,
    message: null,
    createTime: now,
    updateTime: now,
    firstTrainingTime: null,
    lastTrainingTime: null,
    ...overrides,
  };
}

/**
 * The history a submitted job gets on its way to JOB_SUCCESS with automatic review and no
 * confirmation: each stage's running state and its SYSTEM result entry, in order.
 */
export const PIPELINE_SUCCESS_LOG_TYPES = [
  "SUBMITVERIFYING",
  "AUTO_VERIFY",
  "MANUAL_VERIFY",
  "WAIT_TRAINING_DATA_PREPROCESS",
  "TRAINING_DATA_PREPROCESSING",
  "TRAINING_DATA_PREPROCESS",
  "TRAINING",
  "TRAIN",
  "INFERENCE_DATA_PREPROCESSING",
  "INFERENCE_DATA_PREPROCESS",
] as const;

/** The states a submitted job passes on its way to waiting for training. */
const TO_TRAINING: readonly JobState[] = [
  "AUTO_VERIFYING",
  "MANUAL_VERIFYING",
  "MANUAL_VERIFY_SUCCESS",
  "WAIT_TRAINING_DATA_PREPROCESS",
  "TRAINING_DATA_PREPROCESSING",
  "TRAINING_DATA_PREPROCESS_SUCCESS",
];

/** A new job of `projectId` moved straight to TRAINING_DATA_PREPROCESS_SUCCESS, its train task queued. */
export async function jobWaitingForTraining(
  runtime: Runtime,
  projectId: string,
  now: number,
): Promise<string> {
  const db = runtime.database.db;
  const job = newJobRow(projectId, now, { name: "remote" });
  await insertJob(db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
  await db.transaction().execute((trx) =>
    moveJob(trx, {
      jobId: job.id,
      projectId,
      from: "WAIT_FILE_UPLOAD",
      version: 1,
      path: TO_TRAINING,
      log: {
        operateUser: "USER",
        logType: "SUBMITVERIFYING",
        logDescription: "",
        errorCode: null,
        redoReasons: [],
      },
      policy: runtime.config.pipeline,
      now,
    }),
  );
  return job.id;
}

/** A run of a stage for `job` outside a worker: no task, no lease, progress and logs go nowhere. */
export function stageRunOf(job: Job, workDir: string): StageRun {
  return {
    job,
    signal: new AbortController().signal,
    workDir,
    progress() {},
    log: { info() {}, warn() {}, error() {} },
  } as unknown as StageRun;
}
