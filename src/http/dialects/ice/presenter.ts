import { iceStatusOf } from "../../../domain/ice-status.js";
import type { Job } from "../../../domain/job.js";
import type { OperationLog } from "../../../domain/operation-log.js";
import { formatUtcSeconds } from "../../../domain/time.js";
import type { JobDetail } from "../../../services/jobs.service.js";
import type { Avatar } from "../../../services/media.service.js";
import type {
  AvatarDetail,
  AvatarListItem,
  AvatarTrainingJobDetail,
  AvatarTrainingJobListItem,
} from "./schemas.js";

/**
 * A job as ICE's AvatarTrainingJob. ICE shows every key; values Doppel does not have yet are empty
 * strings, as in Alibaba's own sample response.
 */
export function presentListItem(job: Job, options: object = {}): AvatarTrainingJobListItem {
  return {
    JobId: job.id,
    AvatarId: job.assetId ?? "",
    AvatarName: job.name,
    AvatarDescription: job.description ?? "",
    AvatarType: job.avatarType,
    Status: iceStatusOf(job.state),
    Message: job.message ?? "",
    Portrait: iceFieldsOf(options).icePortrait ?? "",
    FirstTrainingTime: time(job.firstTrainingTime),
    LastTrainingTime: time(job.lastTrainingTime),
    CreateTime: formatUtcSeconds(job.createTime),
  };
}

function time(ms: number | null): string {
  return ms === null ? "" : formatUtcSeconds(ms);
}

/**
 * The ICE-only fields of a job. They live in the job's options JSON (written through createJob's and
 * updateJob's `options`, which keep keys they do not know), so they are stored, updated and deleted
 * with the job and need no table of their own; MetaStudio's presenter picks only its own keys.
 */
export interface IceJobFields {
  /** MediaId of the training video. */
  readonly iceVideo?: string;
  /** MediaId of the portrait image. */
  readonly icePortrait?: string;
  /** Where ICE puts the avatar's thumbnail once trained. */
  readonly iceThumbnail?: string;
  /** Whether the training video has an alpha channel. */
  readonly iceTransparent?: boolean;
}

/** The ICE fields of a job's options, ignoring values of the wrong type. */
export function iceFieldsOf(options: object): IceJobFields {
  const o = options as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  return {
    ...(text(o.iceVideo) !== undefined && { iceVideo: text(o.iceVideo) }),
    ...(text(o.icePortrait) !== undefined && { icePortrait: text(o.icePortrait) }),
    ...(text(o.iceThumbnail) !== undefined && { iceThumbnail: text(o.iceThumbnail) }),
    ...(typeof o.iceTransparent === "boolean" && { iceTransparent: o.iceTransparent }),
  };
}

/**
 * GetAvatarTrainingJob's AvatarTrainingJob. `videoMediaId` is the media the job's training video is a
 * copy of now (none when MetaStudio parts replaced it).
 */
export function presentTrainingJob(
  detail: JobDetail,
  videoMediaId: string | undefined,
): AvatarTrainingJobDetail {
  const { job } = detail;
  const ice = iceFieldsOf(detail.options);
  const status = iceStatusOf(job.state);
  return {
    JobId: job.id,
    AvatarId: job.assetId ?? "",
    AvatarName: job.name,
    AvatarDescription: job.description ?? "",
    AvatarType: job.avatarType,
    Status: status,
    Message: job.message ?? (status === "Fail" ? failureReasons(detail.logs) : ""),
    Thumbnail: ice.iceThumbnail ?? "",
    Portrait: ice.icePortrait ?? "",
    Video: videoMediaId ?? "",
    Transparent: ice.iceTransparent ?? false,
    FirstTrainingTime: time(job.firstTrainingTime),
    LastTrainingTime: time(job.lastTrainingTime),
  };
}

/**
 * Why a failed job failed, when no message was recorded: the reasons of the latest log entry that has
 * any (a later user edit, which has none, does not hide them).
 */
function failureReasons(logs: readonly OperationLog[]): string {
  for (let i = logs.length - 1; i >= 0; i--) {
    const log = logs[i];
    if (log && log.redoReasons.length > 0) return log.redoReasons.join("; ");
  }
  return "";
}

/** One avatar of ListAvatars. */
export function presentAvatarListItem(avatar: Avatar): AvatarListItem {
  const ice = iceFieldsOf(avatar.options);
  return {
    AvatarId: avatar.assetId,
    AvatarName: avatar.name,
    AvatarDescription: avatar.description ?? "",
    AvatarType: avatar.avatarType,
    Portrait: ice.icePortrait ?? "",
    Thumbnail: ice.iceThumbnail ?? "",
    Transparent: ice.iceTransparent ?? false,
  };
}

/** Frame size of an avatar by the job's model resolution (landscape, as trained from 1920×1080 video). */
const FRAME_SIZES: Readonly<Record<string, { Width: number; Height: number }>> = {
  "1080P": { Width: 1920, Height: 1080 },
  "4K": { Width: 3840, Height: 2160 },
};

/** GetAvatar's Avatar. */
export function presentAvatar(avatar: Avatar): AvatarDetail {
  return {
    ...presentAvatarListItem(avatar),
    ...(FRAME_SIZES[avatar.modelResolution] ?? { Width: 1920, Height: 1080 }),
  };
}
