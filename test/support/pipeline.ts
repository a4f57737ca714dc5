import type { Job } from "../../src/domain/job.js";
import { newJobId } from "../../src/domain/job.js";

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
