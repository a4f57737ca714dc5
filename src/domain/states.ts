/**
 * MetaStudio training-job states as data, and the one transition table every state change goes
 * through. Names and spellings are Huawei's, including `BEAUTYFACE_ROCESSING`.
 */

/** States Doppel's own pipeline enters. */
export const PIPELINE_STATES = [
  "WAIT_FILE_UPLOAD",
  "AUTO_VERIFYING",
  "AUTO_VERIFY_FAILED",
  "MANUAL_VERIFYING",
  "MANUAL_VERIFY_FAILED",
  "MANUAL_VERIFY_SUCCESS",
  "WAIT_TRAINING_DATA_PREPROCESS",
  "TRAINING_DATA_PREPROCESSING",
  "TRAINING_DATA_PREPROCESS_FAILED",
  "TRAINING_DATA_PREPROCESS_SUCCESS",
  "TRAINING",
  "TRAIN_FAILED",
  "TRAIN_SUCCESS",
  "INFERENCE_DATA_PREPROCESSING",
  "INFERENCE_DATA_PREPROCESS_FAILED",
  "JOB_SUCCESS",
  "WAIT_USER_CONFIRM",
  "JOB_REJECT",
  "JOB_PENDING",
  "JOB_FINISH",
] as const;

/**
 * States the cloud SDK enum knows but Doppel's pipeline never enters. They are valid list filters
 * (a filter on them simply matches nothing) so SDK code that names them is not refused.
 */
export const FOREIGN_STATES = [
  "WAIT_MASK_UPLOAD",
  "WAIT_MAIN_FILE_UPLOAD",
  "WAIT_ASSET_SYNC",
  "WAIT_ADMIN_CONFIRM",
  "MANUAL_STOP_TRAIN",
  "WAIT_COMPILE",
  "COMPILING",
  "COMPILE_FAILED",
  "WAIT_BEAUTY",
  "BEAUTYFACE_ROCESSING",
  "ACTION_MARKING",
  "VIDEO_ANALYZE_PROCESSING",
] as const;

export type PipelineState = (typeof PIPELINE_STATES)[number];
export type JobState = PipelineState | (typeof FOREIGN_STATES)[number];

export const ALL_STATES: readonly JobState[] = Object.freeze([...PIPELINE_STATES, ...FOREIGN_STATES]);

const stateSet: ReadonlySet<string> = new Set(ALL_STATES);

export function isJobState(value: string): value is JobState {
  return stateSet.has(value);
}

/**
 * Allowed transitions. The happy path follows `cloud-apis.md`; failures of a stage may be retried by
 * the user (verify failures through Update + SUBMITVERIFYING); JOB_PENDING suspends and resumes a job
 * that has not started training yet (CONFIRM_PENDING / CONFIRM_ACTIVE).
 */
export const TRANSITIONS: Readonly<Record<PipelineState, readonly PipelineState[]>> = Object.freeze({
  WAIT_FILE_UPLOAD: ["AUTO_VERIFYING"],
  AUTO_VERIFYING: ["AUTO_VERIFY_FAILED", "MANUAL_VERIFYING"],
  AUTO_VERIFY_FAILED: ["AUTO_VERIFYING"],
  MANUAL_VERIFYING: ["MANUAL_VERIFY_FAILED", "MANUAL_VERIFY_SUCCESS", "JOB_PENDING"],
  MANUAL_VERIFY_FAILED: ["AUTO_VERIFYING"],
  MANUAL_VERIFY_SUCCESS: ["WAIT_TRAINING_DATA_PREPROCESS", "TRAINING_DATA_PREPROCESSING", "JOB_PENDING"],
  WAIT_TRAINING_DATA_PREPROCESS: ["TRAINING_DATA_PREPROCESSING", "JOB_PENDING"],
  TRAINING_DATA_PREPROCESSING: ["TRAINING_DATA_PREPROCESS_FAILED", "TRAINING_DATA_PREPROCESS_SUCCESS"],
  TRAINING_DATA_PREPROCESS_FAILED: ["TRAINING_DATA_PREPROCESSING"],
  TRAINING_DATA_PREPROCESS_SUCCESS: ["TRAINING", "JOB_PENDING"],
  TRAINING: ["TRAIN_FAILED", "TRAIN_SUCCESS"],
  TRAIN_FAILED: ["TRAINING"],
  TRAIN_SUCCESS: ["INFERENCE_DATA_PREPROCESSING"],
  INFERENCE_DATA_PREPROCESSING: ["INFERENCE_DATA_PREPROCESS_FAILED", "JOB_SUCCESS", "WAIT_USER_CONFIRM"],
  INFERENCE_DATA_PREPROCESS_FAILED: ["INFERENCE_DATA_PREPROCESSING"],
  JOB_SUCCESS: [],
  WAIT_USER_CONFIRM: ["JOB_FINISH", "JOB_REJECT"],
  JOB_REJECT: [],
  JOB_PENDING: ["MANUAL_VERIFYING", "WAIT_TRAINING_DATA_PREPROCESS", "TRAINING_DATA_PREPROCESS_SUCCESS"],
  JOB_FINISH: [],
});

/** States with no way out. */
export const FINAL_STATES: readonly PipelineState[] = PIPELINE_STATES.filter(
  (s) => TRANSITIONS[s].length === 0,
);

export function canTransition(from: JobState, to: JobState): boolean {
  const next = (TRANSITIONS as Record<string, readonly string[] | undefined>)[from];
  return next?.includes(to) ?? false;
}
