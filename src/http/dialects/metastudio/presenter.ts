import type { Job } from "../../../domain/job.js";
import { formatUtcSeconds } from "../../../domain/time.js";
import type { TrainingJobBasicInfo } from "./schemas.js";

/** A job as MetaStudio's TrainingJobBasicInfo. */
export function presentBasicInfo(job: Job): TrainingJobBasicInfo {
  return {
    job_id: job.id,
    name: job.name,
    state: job.state,
    ...(job.assetId !== null && { asset_id: job.assetId }),
    project_id: job.projectId,
    last_update_time: formatUtcSeconds(job.updateTime),
    create_time: formatUtcSeconds(job.createTime),
    ...(job.contact !== null && { contact: job.contact }),
    ...(job.batchName !== null && { batch_name: job.batchName }),
    tags: [...job.tags],
    model_version: job.modelVersion,
    matting_type: job.mattingType,
    model_resolution: job.modelResolution,
    ...(job.appUserId !== null && { app_user_id: job.appUserId }),
  };
}
