import type { JobState } from "./states.js";

/** ICE's five job statuses. */
export const ICE_STATUSES = ["Init", "Queuing", "Training", "Success", "Fail"] as const;
export type IceStatus = (typeof ICE_STATUSES)[number];

/**
 * Which MetaStudio states each ICE status stands for (DESIGN.md). States the pipeline never enters are
 * placed where a user would look for them: compile/beauty/analysis work is `Training`, waiting on an
 * upload or an admin is `Queuing`, a manual stop is `Fail`.
 */
export const ICE_STATUS_STATES: Readonly<Record<IceStatus, readonly JobState[]>> = Object.freeze({
  Init: ["WAIT_FILE_UPLOAD"],
  Queuing: [
    "AUTO_VERIFYING",
    "MANUAL_VERIFYING",
    "MANUAL_VERIFY_SUCCESS",
    "WAIT_TRAINING_DATA_PREPROCESS",
    "TRAINING_DATA_PREPROCESSING",
    "TRAINING_DATA_PREPROCESS_SUCCESS",
    "JOB_PENDING",
    "WAIT_MASK_UPLOAD",
    "WAIT_MAIN_FILE_UPLOAD",
    "WAIT_ADMIN_CONFIRM",
  ],
  Training: [
    "TRAINING",
    "TRAIN_SUCCESS",
    "INFERENCE_DATA_PREPROCESSING",
    "WAIT_COMPILE",
    "COMPILING",
    "WAIT_BEAUTY",
    "BEAUTYFACE_ROCESSING",
    "ACTION_MARKING",
    "VIDEO_ANALYZE_PROCESSING",
    "WAIT_ASSET_SYNC",
  ],
  Success: ["JOB_SUCCESS", "WAIT_USER_CONFIRM", "JOB_FINISH"],
  Fail: [
    "AUTO_VERIFY_FAILED",
    "MANUAL_VERIFY_FAILED",
    "TRAINING_DATA_PREPROCESS_FAILED",
    "TRAIN_FAILED",
    "INFERENCE_DATA_PREPROCESS_FAILED",
    "JOB_REJECT",
    "MANUAL_STOP_TRAIN",
    "COMPILE_FAILED",
  ],
});

const statusOf = new Map<JobState, IceStatus>(
  ICE_STATUSES.flatMap((status) => ICE_STATUS_STATES[status].map((state) => [state, status] as const)),
);

/** The ICE status a MetaStudio state shows as. */
export function iceStatusOf(state: JobState): IceStatus {
  const status = statusOf.get(state);
  if (!status) throw new Error(`state ${state} has no ICE status`);
  return status;
}
