import type { JobState, PipelineState } from "./states.js";

/**
 * The pipeline as data: which stage a job's state calls for, the state the job shows while the stage
 * runs, where a failure leaves it and where success takes it. Workers and commands only follow this
 * table; every move still goes through the transition table in states.ts.
 */
export const STAGES = ["verify", "review", "preprocess", "train", "package"] as const;
export type Stage = (typeof STAGES)[number];

export interface StageDefinition {
  readonly stage: Stage;
  /** Entering this state enqueues the stage. */
  readonly queuedIn: PipelineState;
  /** The job's state while the stage runs (the same as `queuedIn` when the clouds show no wait state). */
  readonly runningIn: PipelineState;
  readonly failedTo: PipelineState;
  /** `log_type` of the stage's operation-log entries. */
  readonly logType: string;
}

export const STAGE_DEFINITIONS: Readonly<Record<Stage, StageDefinition>> = Object.freeze({
  verify: {
    stage: "verify",
    queuedIn: "AUTO_VERIFYING",
    runningIn: "AUTO_VERIFYING",
    failedTo: "AUTO_VERIFY_FAILED",
    logType: "AUTO_VERIFY",
  },
  review: {
    stage: "review",
    queuedIn: "MANUAL_VERIFYING",
    runningIn: "MANUAL_VERIFYING",
    failedTo: "MANUAL_VERIFY_FAILED",
    logType: "MANUAL_VERIFY",
  },
  preprocess: {
    stage: "preprocess",
    queuedIn: "WAIT_TRAINING_DATA_PREPROCESS",
    runningIn: "TRAINING_DATA_PREPROCESSING",
    failedTo: "TRAINING_DATA_PREPROCESS_FAILED",
    logType: "TRAINING_DATA_PREPROCESS",
  },
  train: {
    stage: "train",
    queuedIn: "TRAINING_DATA_PREPROCESS_SUCCESS",
    runningIn: "TRAINING",
    failedTo: "TRAIN_FAILED",
    logType: "TRAIN",
  },
  package: {
    stage: "package",
    queuedIn: "TRAIN_SUCCESS",
    runningIn: "INFERENCE_DATA_PREPROCESSING",
    failedTo: "INFERENCE_DATA_PREPROCESS_FAILED",
    logType: "INFERENCE_DATA_PREPROCESS",
  },
});

/** How the pipeline is set up: who reviews, and whether the user confirms the result. */
export interface PipelinePolicy {
  /** `auto`: a verified job is approved at once; `manual`: it waits in MANUAL_VERIFYING for an admin. */
  readonly review: "auto" | "manual";
  /** Whether a finished job waits for CONFIRM_ACCEPT / CONFIRM_REJECT (WAIT_USER_CONFIRM). */
  readonly requireConfirm: boolean;
}

export const REVIEW_MODES = ["auto", "manual"] as const;

/** The stage that entering `state` calls for, if any. */
export function stageQueuedIn(state: JobState, policy: PipelinePolicy): Stage | undefined {
  if (state === "MANUAL_VERIFYING" && policy.review === "manual") return undefined;
  return STAGES.find((stage) => STAGE_DEFINITIONS[stage].queuedIn === state);
}

/** The states a stage's success moves the job through, in order, from its running state. */
export function successPath(stage: Stage, policy: PipelinePolicy): PipelineState[] {
  switch (stage) {
    case "verify":
      return ["MANUAL_VERIFYING"];
    case "review":
      return ["MANUAL_VERIFY_SUCCESS", "WAIT_TRAINING_DATA_PREPROCESS"];
    case "preprocess":
      return ["TRAINING_DATA_PREPROCESS_SUCCESS"];
    case "train":
      return ["TRAIN_SUCCESS"];
    case "package":
      return [policy.requireConfirm ? "WAIT_USER_CONFIRM" : "JOB_SUCCESS"];
  }
}

/** Where the verify stage keeps a job's report: the review queue shows it to the reviewer. */
export function verifyReportKey(jobId: string): string {
  return `${verifyPrefix(jobId)}report.json`;
}

/**
 * Where the verify stage keeps the images its report names (the sampled frames, the consent video's
 * face), by the name the report gives them. Every name includes its content's sha256, so a key never
 * holds other bytes than the first ones written under it.
 */
export function verifyImageKey(jobId: string, name: string): string {
  return `${verifyPrefix(jobId)}${name}`;
}

/** Everything the verify stage keeps for a job: its report and the report's images. */
export function verifyPrefix(jobId: string): string {
  return `jobs/${jobId}/verify/`;
}

/** The path Doppel serves an image of a job's verify report at; signed URLs add `expires` and `signature`. */
export function verifyImagePath(jobId: string, name: string): string {
  return `/downloads/${jobId}/verify/${name}`;
}
