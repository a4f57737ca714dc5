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
