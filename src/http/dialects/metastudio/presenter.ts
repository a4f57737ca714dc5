import { createHash } from "node:crypto";
import type { Asset } from "../../../domain/asset.js";
import type { Job } from "../../../domain/job.js";
import { formatUtcSeconds } from "../../../domain/time.js";
import type { AssetFile } from "../../../services/assets.service.js";
import type { ShownJob } from "../../../services/jobs.service.js";
import type { DigitalAssetInfo, ShowJobResponse, TrainingJobBasicInfo } from "./schemas.js";

/**
 * A job as MetaStudio's TrainingJobBasicInfo, in the documented field order. Absent values are left
 * out (Huawei omits them). Built by assignment rather than conditional spreads: this runs for every
 * listed job and spreads allocated a temporary object per optional field.
 */
export function presentBasicInfo(job: Job, coverUrl?: string): TrainingJobBasicInfo {
  const info: TrainingJobBasicInfo = {
    job_id: job.id,
    name: job.name,
    state: job.state,
    asset_id: undefined,
    project_id: job.projectId,
    cover_download_url: coverUrl,
    last_update_time: formatUtcSeconds(job.updateTime),
    create_time: formatUtcSeconds(job.createTime),
    contact: undefined,
    batch_name: undefined,
    tags: job.tags as string[],
    model_version: job.modelVersion,
    matting_type: job.mattingType,
    model_resolution: job.modelResolution,
    app_user_id: undefined,
  };
  if (job.assetId !== null) info.asset_id = job.assetId;
  if (job.contact !== null) info.contact = job.contact;
  if (job.batchName !== null) info.batch_name = job.batchName;
  if (job.appUserId !== null) info.app_user_id = job.appUserId;
  return info;
}

/** Show2dModelTrainingJob's body; `urls` are the signed download URLs of the job's files, by slot. */
export function presentDetail(detail: ShownJob): ShowJobResponse {
  const { options, downloadUrls: urls } = detail;
  return {
    ...presentBasicInfo(detail.job),
    cover_download_url: urls.cover,
    training_video_download_url: urls["training-video"],
    action_video_download_url: urls["action-video"],
    grant_file_download_url: urls["grant-file"],
    audio_file_download_url: urls.audio,
    video_multipart_count: options.videoMultipartCount,
    action_video_multipart_count: options.actionVideoMultipartCount,
    command_message: options.commandMessage,
    audio_source_type: options.audioSourceType,
    is_background_replacement: options.isBackgroundReplacement,
    operation_logs: detail.logs.map((log) => ({
      operate_time: formatUtcSeconds(log.operateTime),
      log_type: log.logType,
      log_description: log.logDescription,
      operate_user: log.operateUser,
      error_code: log.errorCode ?? undefined,
      redo_reasons: [...log.redoReasons],
    })),
  };
}

/**
 * An asset as MetaStudio's DigitalAssetInfo; with `files` when shown (ShowAsset, UpdateDigitalAsset),
 * without them in a list, where signing every file of every asset would make each page heavy.
 */
export function presentAsset(asset: Asset, files?: readonly AssetFile[]): DigitalAssetInfo {
  return {
    project_id: asset.projectId,
    asset_id: asset.id,
    asset_name: asset.name,
    ...(asset.description !== null && { asset_description: asset.description }),
    ...(asset.appUserId !== null && { app_user_id: asset.appUserId }),
    create_time: formatUtcSeconds(asset.createTime),
    update_time: formatUtcSeconds(asset.updateTime),
    asset_type: asset.assetType,
    asset_state: asset.state,
    tags: [...asset.tags],
    asset_extra_meta: {
      human_model_2d_meta: {
        is_action_editable: false,
        support_live: true,
        // The asset library spells the versions the job APIs call V3.2 and V3.3 with an underscore.
        model_version: asset.modelVersion.replace(".", "_"),
        model_resolution: asset.modelResolution,
        is_with_action_library: false,
      },
    },
    ...(files !== undefined && { files: files.map(presentAssetFile) }),
    job_id: asset.jobId,
  };
}

function presentAssetFile(file: AssetFile) {
  const name = file.path.split("/").at(-1) ?? file.path;
  return {
    // Stable per asset and path, so a client can tell files apart across calls.
    file_id: createHash("sha256").update(file.path).digest("hex").slice(0, 32),
    file_name: name,
    file_size: file.size,
    file_type: name.includes(".") ? (name.split(".").at(-1) ?? "") : "",
    asset_file_category: file.category,
    download_url: file.downloadUrl,
    state: "CREATED" as const,
    ...(file.sha256 !== undefined && { file_sha256: file.sha256 }),
  };
}
