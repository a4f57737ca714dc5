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
  /** What only the ICE dialect sets and shows (UpdateAvatarTrainingJob, GetAvatarTrainingJob). */
  readonly ice?: IceJobFields;
}

/**
 * ICE's fields of a training job that MetaStudio has no place for. The training video is not among
 * them: it is the job's file, and ICE's `Video` names the media that file was copied from.
 */
export interface IceJobFields {
  /** MediaId of the portrait image. */
  readonly portrait?: string;
  /** Where ICE puts the avatar's thumbnail once trained: an http(s) URL. */
  readonly thumbnail?: string;
  /** Whether the training video has an alpha channel. */
  readonly transparent?: boolean;
}

export const DEFAULT_JOB_OPTIONS: JobOptions = Object.freeze({
  videoMultipartCount: 1,
  actionVideoMultipartCount: 0,
});
