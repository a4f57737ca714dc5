import type { JobState } from "./states.js";

/** The commands of Execute2dModelTrainingCommandByUser that Doppel carries out. */
export const TRAINING_COMMANDS = [
  "SUBMITVERIFYING",
  "GET_MULTIPART_UPLOADED",
  "CONFIRM_MULTIPART_UPLOADED",
  "GET_ACTION_VIDEO_MULTIPART_UPLOADED",
  "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED",
  "CONFIRM_ACCEPT",
  "CONFIRM_REJECT",
  "CONFIRM_PENDING",
  "CONFIRM_ACTIVE",
] as const;
export type TrainingCommand = (typeof TRAINING_COMMANDS)[number];

/** States in which files may be uploaded, listed and confirmed: before submission, or after a failed check. */
export const UPLOAD_STATES: readonly JobState[] = [
  "WAIT_FILE_UPLOAD",
  "AUTO_VERIFY_FAILED",
  "MANUAL_VERIFY_FAILED",
];

/** States a job can be suspended from by CONFIRM_PENDING (before training starts). */
export const PAUSABLE_STATES: readonly JobState[] = [
  "MANUAL_VERIFYING",
  "MANUAL_VERIFY_SUCCESS",
  "WAIT_TRAINING_DATA_PREPROCESS",
  "TRAINING_DATA_PREPROCESS_SUCCESS",
];
