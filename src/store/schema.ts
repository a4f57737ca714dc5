import type { Generated } from "kysely";

/** Table shapes as Kysely sees them. Times are epoch milliseconds in BIGINT columns. */
export interface ProjectsTable {
  id: string;
  name: string;
  create_time: number;
}

export interface AccessKeysTable {
  id: string;
  project_id: string;
  /** AES-256-GCM ciphertext of the secret under the server key (see auth/secret-box.ts). */
  secret_ciphertext: string;
  create_time: number;
  disabled: Generated<number>;
}

export interface TokensTable {
  /** sha256 of the token: a leaked database does not leak usable tokens. */
  token_hash: string;
  project_id: string;
  create_time: number;
  expire_time: number;
}

export interface NoncesTable {
  access_key_id: string;
  nonce: string;
  expire_time: number;
}

export interface JobsTable {
  id: string;
  project_id: string;
  app_user_id: string | null;
  name: string;
  description: string | null;
  avatar_type: string;
  state: string;
  batch_name: string | null;
  /** JSON array of strings, for presentation; `job_tags` serves the filter. */
  tags: string;
  model_version: string;
  matting_type: string;
  model_resolution: string;
  asset_id: string | null;
  contact: string | null;
  message: string | null;
  create_time: number;
  update_time: number;
  first_training_time: number | null;
  last_training_time: number | null;
  /** Optimistic-concurrency counter, bumped on every change. */
  version: Generated<number>;
  /** JSON object of the creation options that have no column (multipart counts, flags, …). */
  options: Generated<string>;
  /** Idempotency token of the create request (ICE ClientToken, MetaStudio X-Client-Token). */
  client_token: string | null;
  paused_from: string | null;
}

export interface JobFilesTable {
  job_id: string;
  slot: string;
  blob_key: string;
  size: number;
  sha256: string;
  etag: string;
  content_type: string;
  upload_time: number;
}

export interface JobOperationLogsTable {
  job_id: string;
  /** 1, 2, 3 … per job, in the order the operations happened. */
  seq: number;
  operate_time: number;
  operate_user: string;
  log_type: string;
  log_description: string;
  error_code: string | null;
  /** JSON array of readable reasons a person can act on. */
  redo_reasons: Generated<string>;
}

export interface JobTagsTable {
  job_id: string;
  project_id: string;
  tag: string;
  create_time: number;
}

export interface DatabaseSchema {
  projects: ProjectsTable;
  access_keys: AccessKeysTable;
  tokens: TokensTable;
  nonces: NoncesTable;
  jobs: JobsTable;
  job_tags: JobTagsTable;
  job_operation_logs: JobOperationLogsTable;
  job_files: JobFilesTable;
}

/** An uploaded file (ICE media asset) that a training job can name as its video or portrait. */
export interface MediaTable {
  id: string;
  project_id: string;
  /** `video` or `image`. */
  media_type: string;
  file_name: string | null;
  /** `UPLOADING` until the file has arrived, then `READY`; a READY media never changes. */
  state: string;
  blob_key: string | null;
  size: number | null;
  sha256: string | null;
  etag: string | null;
  /** The sniffed type (`video/mp4`, `image/png`, …), never the client's Content-Type. */
  mime: string | null;
  create_time: number;
  upload_time: number | null;
}

// Declaration merging keeps this file append-only: the media table joins the schema above.
export interface DatabaseSchema {
  media: MediaTable;
}

/** A durable pipeline task (see migrations/0005-tasks.ts and store/task.repository.ts). */
export interface TasksTable {
  id: string;
  job_id: string;
  stage: string;
  job_state: string;
  /** `queued`, `running`, `done` (finished or dropped as stale). */
  state: string;
  /** When a queued task is due (epoch ms): now, or later after a transient failure. */
  run_at: number;
  /** How often a worker has claimed it, takeovers included. */
  claims: Generated<number>;
  /** Transient failures so far; the backoff and the give-up limit count these. */
  failures: Generated<number>;
  lease_owner: string | null;
  lease_until: number | null;
  /** 0..1, reported by the running stage's heartbeats. */
  progress: Generated<number>;
  last_error: string | null;
  create_time: number;
  update_time: number;
}

export interface DatabaseSchema {
  tasks: TasksTable;
}

/** An operator's bearer token for the admin API (migrations/0006-admin-tokens.ts). */
export interface AdminTokensTable {
  token_hash: string;
  name: string;
  create_time: number;
  expire_time: number;
}

export interface DatabaseSchema {
  admin_tokens: AdminTokensTable;
}

/** Revocation and last use (migrations/0007-credential-revocation.ts); a revoked key is also `disabled`. */
export interface AccessKeysTable {
  revoke_time: number | null;
  last_used_time: number | null;
}

export interface TokensTable {
  revoke_time: number | null;
}

export interface AdminTokensTable {
  revoke_time: number | null;
}

/** Every client token that created a job, kept after the job is deleted (see migration 0007). */
export interface ClientTokensTable {
  project_id: string;
  client_token: string;
  job_id: string;
  create_time: number;
}

export interface DatabaseSchema {
  client_tokens: ClientTokensTable;
}

/** A trained avatar, published by the package stage (migrations/0008-assets.ts). */
export interface AssetsTable {
  id: string;
  project_id: string;
  job_id: string;
  app_user_id: string | null;
  name: string;
  description: string | null;
  /** JSON array of strings. */
  tags: Generated<string>;
  asset_type: string;
  state: string;
  model_version: string;
  model_resolution: string;
  width: number | null;
  height: number | null;
  fps: number | null;
  frame_count: number | null;
  create_time: number;
  update_time: number;
}

export interface DatabaseSchema {
  assets: AssetsTable;
}

/** PostgreSQL: the last event number given out per project (migrations/0009-events.ts). */
export interface EventSequencesTable {
  project_id: string;
  last_seq: number;
}

/** The outbox: one row per event, written in the transaction of the change it announces. */
export interface EventsTable {
  id: string;
  project_id: string;
  seq: number;
  job_id: string | null;
  type: string;
  ice_outcome: string | null;
  /** JSON of the event's data. */
  payload: string;
  create_time: number;
}

export interface WebhookEndpointsTable {
  id: string;
  project_id: string;
  kind: string;
  url: string;
  description: string | null;
  /** JSON array of event types; empty: all. */
  event_types: string;
  secret_sealed: string | null;
  previous_secret_sealed: string | null;
  previous_secret_until: number | null;
  auth_switch: number | null;
  state: string;
  disabled_reason: string | null;
  failing_since: number | null;
  queued_through_seq: number;
  create_time: number;
  update_time: number;
}

export interface WebhookDeliveriesTable {
  endpoint_id: string;
  event_id: string;
  job_id: string | null;
  event_seq: number;
  state: string;
  attempts: Generated<number>;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_status: number | null;
  last_latency_ms: number | null;
  last_response: string | null;
  last_error: string | null;
  last_attempt_at: number | null;
  delivered_at: number | null;
  create_time: number;
  update_time: number;
}

export interface DatabaseSchema {
  event_sequences: EventSequencesTable;
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
