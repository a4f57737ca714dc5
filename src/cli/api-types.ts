/**
 * The API shapes the command line sends and reads (MetaStudio jobs and assets, Doppel webhooks), as far
 * as it uses them: fields named and typed as the server presents them.
 */

export interface CreateJobRequest {
  readonly name: string;
  readonly video_multipart_count?: number;
  readonly batch_name?: string;
  readonly tags?: readonly string[];
}

export interface CreateJobResponse {
  readonly job_id: string;
  readonly training_video_upload_url: string[];
  readonly action_video_upload_url: string[];
  readonly cover_upload_url: string;
  readonly grant_file_upload_url: string;
  readonly audio_upload_url: string;
}

export interface JobInfo {
  readonly job_id: string;
  readonly name: string;
  readonly state: string;
  readonly project_id: string;
  readonly create_time: string;
  readonly last_update_time: string;
  readonly batch_name?: string;
  readonly tags: string[];
  readonly model_version: string;
  readonly matting_type: string;
  readonly model_resolution: string;
  readonly asset_id?: string;
  readonly contact?: string;
  readonly app_user_id?: string;
}

export interface JobDetail extends JobInfo {
  readonly video_multipart_count: number;
  readonly action_video_multipart_count: number;
  readonly training_video_download_url?: string;
  readonly cover_download_url?: string;
  readonly operation_logs: Array<{
    operate_time: string;
    log_type: string;
    log_description: string;
    operate_user: string;
    error_code?: string;
    redo_reasons?: string[];
  }>;
}

export interface JobList {
  readonly count: number;
  readonly jobs: JobInfo[];
}

export interface CommandResponse {
  readonly commond_result: string;
  readonly multipart_data?: Array<{ part_number: number; etag: string }>;
}

/** One file of an asset (AssetFileInfo), with Doppel's `file_sha256`. */
export interface AssetFileInfo {
  readonly file_id: string;
  readonly file_name: string;
  readonly file_size: number;
  readonly file_type: string;
  readonly asset_file_category: string;
  readonly download_url: string;
  readonly state: string;
  readonly file_sha256?: string;
}

/** An asset (DigitalAssetInfo): with `files` when shown, without them in a list. */
export interface AssetInfo {
  readonly project_id: string;
  readonly asset_id: string;
  readonly asset_name: string;
  readonly asset_description?: string;
  readonly app_user_id?: string;
  readonly create_time: string;
  readonly update_time: string;
  readonly asset_type: string;
  readonly asset_state: string;
  readonly tags: string[];
  readonly asset_extra_meta?: {
    readonly human_model_2d_meta?: { readonly model_version?: string; readonly model_resolution?: string };
  };
  readonly files?: AssetFileInfo[];
  readonly job_id?: string;
}

export interface AssetList {
  readonly count: number;
  readonly assets: AssetInfo[];
}

/** A webhook (Doppel's events API); `secret` only in the answer of a create or a rotation. */
export interface WebhookInfo {
  readonly webhook_id: string;
  readonly url: string;
  readonly description?: string;
  readonly events: string[];
  readonly state: "enabled" | "disabled";
  readonly disabled_reason?: string;
  readonly failing_since?: string;
  readonly secret?: string;
  readonly previous_secret_expires_at?: string;
  readonly create_time: string;
  readonly update_time: string;
}

export interface WebhookList {
  readonly count: number;
  readonly webhooks: WebhookInfo[];
}

export interface CreateWebhookRequest {
  readonly url: string;
  readonly events?: readonly string[];
  readonly description?: string;
}

export interface UpdateWebhookRequest {
  readonly url?: string;
  readonly events?: readonly string[];
  readonly description?: string;
  readonly enabled?: boolean;
}

/** One line of a webhook's delivery log. */
export interface DeliveryInfo {
  readonly event_id: string;
  readonly sequence: number;
  readonly job_id?: string;
  readonly state: "pending" | "delivering" | "delivered" | "failed";
  readonly attempts: number;
  readonly next_attempt_time?: string;
  readonly last_attempt_time?: string;
  readonly last_status?: number;
  readonly last_latency_ms?: number;
  readonly last_response?: string;
  readonly last_error?: string;
  readonly delivered_time?: string;
  readonly create_time: string;
}

export interface DeliveryList {
  readonly count: number;
  readonly deliveries: DeliveryInfo[];
}
