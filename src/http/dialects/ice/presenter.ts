import { iceStatusOf } from "../../../domain/ice-status.js";
import type { Job } from "../../../domain/job.js";
import type { IceJobFields } from "../../../domain/job-options.js";
import type { OperationLog } from "../../../domain/operation-log.js";
import { formatUtcSeconds } from "../../../domain/time.js";
import type { IceCallbackView } from "../../../services/ice-callbacks.service.js";
import type { Avatar } from "../../../services/ice-jobs.service.js";
import type { JobDetail } from "../../../services/jobs.service.js";
import type {
  AvatarDetail,
  AvatarListItem,
  AvatarTrainingJobDetail,
  AvatarTrainingJobListItem,
} from "./schemas.js";

/**
 * The fields every AvatarTrainingJob shows, list and detail alike. ICE shows every key; values Doppel
 * does not have yet are empty strings, as in Alibaba's own sample response.
 */
function trainingJob(job: Job, ice: IceJobFields, message: string) {
  return {
    JobId: job.id,
    AvatarId: job.assetId ?? "",
    AvatarName: job.name,
    AvatarDescription: job.description ?? "",
    AvatarType: job.avatarType,
    Status: iceStatusOf(job.state),
    Message: message,
    Portrait: ice.portrait ?? "",
    FirstTrainingTime: time(job.firstTrainingTime),
    LastTrainingTime: time(job.lastTrainingTime),
  };
}

/** One AvatarTrainingJob of ListAvatarTrainingJobs. */
export function presentListItem(job: Job, ice: IceJobFields): AvatarTrainingJobListItem {
  return { ...trainingJob(job, ice, job.message ?? ""), CreateTime: formatUtcSeconds(job.createTime) };
}

function time(ms: number | null): string {
  return ms === null ? "" : formatUtcSeconds(ms);
}

/**
 * GetAvatarTrainingJob's AvatarTrainingJob. `videoMediaId` is the media the job's training video is a
 * copy of now (none when MetaStudio parts replaced it). A failed job without a message says why from
 * its history.
 */
export function presentTrainingJob(
  detail: JobDetail,
  videoMediaId: string | undefined,
  coverUrl?: string,
): AvatarTrainingJobDetail {
  const { job } = detail;
  const ice = detail.options.ice ?? {};
  const failed = iceStatusOf(job.state) === "Fail";
  return {
    ...trainingJob(job, ice, job.message ?? (failed ? failureReasons(detail.logs) : "")),
    Thumbnail: thumbnailOf(ice, coverUrl),
    Video: videoMediaId ?? "",
    Transparent: ice.transparent ?? false,
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

/**
 * ICE's Thumbnail: the URL the user gave, else a signed URL of the job's cover (the frame preprocessing
 * picked), once there is one; empty before.
 */
function thumbnailOf(ice: IceJobFields, coverUrl: string | undefined): string {
  return ice.thumbnail ?? coverUrl ?? "";
}

/** One avatar of ListAvatars. */
export function presentAvatarListItem(avatar: Avatar): AvatarListItem {
  const { ice, asset } = avatar;
  return {
    AvatarId: asset.id,
    AvatarName: asset.name,
    AvatarDescription: asset.description ?? "",
    AvatarType: avatar.avatarType,
    Portrait: ice.portrait ?? "",
    Thumbnail: thumbnailOf(ice, avatar.coverUrl),
    Transparent: ice.transparent ?? false,
  };
}

/**
 * Frame size of an avatar recorded before Doppel kept the package's, by the job's model resolution
 * (landscape, as trained from 1920×1080 video).
 */
const FRAME_SIZES: Readonly<Record<string, { Width: number; Height: number }>> = {
  "1080P": { Width: 1920, Height: 1080 },
  "4K": { Width: 3840, Height: 2160 },
};

/** GetAvatar's Avatar: its frame is the avatar's loop, the training video's size. */
export function presentAvatar(avatar: Avatar): AvatarDetail {
  const { asset } = avatar;
  const size =
    asset.width !== null && asset.height !== null
      ? { Width: asset.width, Height: asset.height }
      : (FRAME_SIZES[asset.modelResolution] ?? { Width: 1920, Height: 1080 });
  return { ...presentAvatarListItem(avatar), ...size };
}

/** The event callback in GetEventCallback's fields; nothing set: no fields. */
export function presentEventCallback(callback: IceCallbackView) {
  return {
    ...(callback.callbackType !== undefined && { CallbackType: callback.callbackType }),
    ...(callback.callbackUrl !== undefined && { CallbackURL: callback.callbackUrl }),
    ...(callback.eventTypeList !== undefined && { EventTypeList: callback.eventTypeList }),
    ...(callback.authSwitch !== undefined && { AuthSwitch: callback.authSwitch }),
    ...(callback.authKey !== undefined && { AuthKey: callback.authKey }),
  };
}
