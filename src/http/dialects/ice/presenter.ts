import { iceStatusOf } from "../../../domain/ice-status.js";
import type { Job } from "../../../domain/job.js";
import { formatUtcSeconds } from "../../../domain/time.js";
import type { AvatarTrainingJobListItem } from "./schemas.js";

/**
 * A job as ICE's AvatarTrainingJob. ICE shows every key; values Doppel does not have yet are empty
 * strings, as in Alibaba's own sample response.
 */
export function presentListItem(job: Job): AvatarTrainingJobListItem {
  return {
    JobId: job.id,
    AvatarId: job.assetId ?? "",
    AvatarName: job.name,
    AvatarDescription: job.description ?? "",
    AvatarType: job.avatarType,
    Status: iceStatusOf(job.state),
    Message: job.message ?? "",
    Portrait: "",
    FirstTrainingTime: time(job.firstTrainingTime),
    LastTrainingTime: time(job.lastTrainingTime),
    CreateTime: formatUtcSeconds(job.createTime),
  };
}

function time(ms: number | null): string {
  return ms === null ? "" : formatUtcSeconds(ms);
}
