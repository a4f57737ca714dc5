import { DoppelError } from "./errors.js";
import { ICE_STATUS_STATES, iceStatusOf } from "./ice-status.js";
import type { Job } from "./job.js";
import type { JobState } from "./states.js";

/**
 * Which user action a job's state allows: every such rule, for both dialects, in one place. Where the
 * clouds differ (what may be edited or deleted when) each dialect keeps its own list; what touches the
 * job's files or starts the pipeline is one rule for both, because it guards what a job is trained on.
 */

/** States in which files may be uploaded, replaced, listed and confirmed: before submission, or after a failed check. */
export const UPLOAD_STATES: readonly JobState[] = [
  "WAIT_FILE_UPLOAD",
  "AUTO_VERIFY_FAILED",
  "MANUAL_VERIFY_FAILED",
];

/** States a job may be submitted for verification from (SUBMITVERIFYING, ICE SubmitAvatarTrainingJob): those that take files. */
export const SUBMITTABLE_STATES: readonly JobState[] = UPLOAD_STATES;

/** States a job can be suspended from by CONFIRM_PENDING (before training starts). */
export const PAUSABLE_STATES: readonly JobState[] = [
  "MANUAL_VERIFYING",
  "MANUAL_VERIFY_SUCCESS",
  "WAIT_TRAINING_DATA_PREPROCESS",
  "TRAINING_DATA_PREPROCESS_SUCCESS",
];

/** States a user accepts or rejects the trained result in (CONFIRM_ACCEPT, CONFIRM_REJECT). */
export const CONFIRMABLE_STATES: readonly JobState[] = ["WAIT_USER_CONFIRM"];

/** States in which MetaStudio's Update2DModelTrainingJob edits a job: after a failed check, to fix it. */
export const METASTUDIO_EDITABLE_STATES: readonly JobState[] = ["AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"];

/** States in which a job may be deleted (MetaStudio's documented list). */
export const DELETABLE_STATES: readonly JobState[] = [
  "WAIT_FILE_UPLOAD",
  "AUTO_VERIFY_FAILED",
  "MANUAL_VERIFYING",
  "MANUAL_VERIFY_FAILED",
  "TRAINING_DATA_PREPROCESS_FAILED",
  "TRAIN_FAILED",
  "INFERENCE_DATA_PREPROCESS_FAILED",
  "JOB_SUCCESS",
  "WAIT_USER_CONFIRM",
  "JOB_REJECT",
  "JOB_FINISH",
];

/** ICE's Init and Fail: where ICE lets a job be edited (UpdateAvatarTrainingJob). */
export const ICE_EDITABLE_STATES: readonly JobState[] = [
  ...ICE_STATUS_STATES.Init,
  ...ICE_STATUS_STATES.Fail,
];

/** ICE deletes in Init or Fail only, and never where MetaStudio would refuse the same delete. */
export const ICE_DELETABLE_STATES: readonly JobState[] = ICE_EDITABLE_STATES.filter((state) =>
  DELETABLE_STATES.includes(state),
);

/**
 * A rule: the states an action is allowed in, and how a refusal names them — in MetaStudio's states, or
 * in ICE's statuses for ICE's own rules, so each dialect's users read a refusal in their own terms.
 */
export interface StateRule {
  readonly states: readonly JobState[];
  readonly vocabulary: "state" | "ice";
}

const inStates = (states: readonly JobState[]): StateRule => ({ states, vocabulary: "state" });

export const MAY_UPLOAD = inStates(UPLOAD_STATES);
export const MAY_SUBMIT = inStates(SUBMITTABLE_STATES);
export const MAY_PAUSE = inStates(PAUSABLE_STATES);
export const MAY_RESUME = inStates(["JOB_PENDING"]);
export const MAY_CONFIRM = inStates(CONFIRMABLE_STATES);
export const MAY_EDIT_METASTUDIO = inStates(METASTUDIO_EDITABLE_STATES);
export const MAY_DELETE = inStates(DELETABLE_STATES);
export const MAY_EDIT_ICE: StateRule = { states: ICE_EDITABLE_STATES, vocabulary: "ice" };
export const MAY_DELETE_ICE: StateRule = { states: ICE_DELETABLE_STATES, vocabulary: "ice" };

/** Refuses with INVALID_STATE unless the job's state is one `rule` allows, naming the action and where it is allowed. */
export function requireState(job: Job, rule: StateRule, action: string): void {
  if (rule.states.includes(job.state)) return;
  throw new DoppelError("INVALID_STATE", refusal(job, rule, action));
}

function refusal(job: Job, rule: StateRule, action: string): string {
  if (rule.vocabulary === "ice") {
    const allowed = [...new Set(rule.states.map(iceStatusOf))].join(" or ");
    return `Job ${job.id} is ${iceStatusOf(job.state)} (state ${job.state}); ${action} is allowed only when the job is ${allowed}`;
  }
  return `Job ${job.id} is in state ${job.state}; ${action} is allowed only in ${rule.states.join(", ")}`;
}
