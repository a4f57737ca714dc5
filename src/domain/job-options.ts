/**
 * Creation options MetaStudio accepts that Doppel keeps but does not index: multipart counts, audio
 * source, flags. Stored as JSON beside the job and shown back by Show.
 */
export interface JobOptions {
  readonly commandMessage?: string;
  /** Parts of the one training video the client uploads (1–1000). */
  readonly videoMultipartCount: number;
  /** Parts of the action video (0 = none). */
  readonly actionVideoMultipartCount: number;
  readonly isBackgroundReplacement?: boolean;
  readonly audioSourceType?: "VIDEO" | "AUDIO";
  readonly voiceProperties?: Readonly<Record<string, unknown>>;
  readonly isFlexus?: boolean;
  readonly isLiveCopy?: boolean;
  readonly isOndemandResource?: boolean;
  readonly isOnlyHumanModel?: boolean;
}

export const DEFAULT_JOB_OPTIONS: JobOptions = Object.freeze({
  videoMultipartCount: 1,
  actionVideoMultipartCount: 0,
});

/** States in which a job may be deleted (MetaStudio's documented list). */
export const DELETABLE_STATES = [
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
] as const;
