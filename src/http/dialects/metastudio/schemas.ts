import { type Static, Type } from "@sinclair/typebox";
import { StringEnum } from "../../schemas/string-enum.js";
import { VerifyReportSchema } from "../../schemas/verify-report.js";

/** Query of List2dModelTrainingJob (reference page + the current SDK's additions). */
export const ListJobsQuerySchema = Type.Object({
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  sort_key: StringEnum(["create_time", "update_time"], { default: "create_time" }),
  sort_dir: StringEnum(["asc", "desc"], { default: "asc" }),
  create_since: Type.Optional(Type.String({ maxLength: 64 })),
  create_until: Type.Optional(Type.String({ maxLength: 64 })),
  update_since: Type.Optional(Type.String({ maxLength: 64 })),
  update_until: Type.Optional(Type.String({ maxLength: 64 })),
  state: Type.Optional(Type.String({ maxLength: 2048 })),
  query_project_id: Type.Optional(Type.String({ maxLength: 64 })),
  batch_name: Type.Optional(Type.String({ maxLength: 1024 })),
  tag: Type.Optional(Type.String({ maxLength: 1024 })),
  job_id: Type.Optional(Type.String({ maxLength: 64 })),
  name: Type.Optional(Type.String({ maxLength: 1024 })),
  model_resolution: Type.Optional(Type.String({ maxLength: 64 })),
});
export type ListJobsQueryWire = Static<typeof ListJobsQuerySchema>;

export const ProjectParamsSchema = Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }) });

/** TrainingJobBasicInfo, named and typed as Huawei documents it. Absent values are omitted. */
export const TrainingJobBasicInfoSchema = Type.Object(
  {
    job_id: Type.String(),
    name: Type.String(),
    state: Type.String(),
    asset_id: Type.Optional(Type.String()),
    project_id: Type.String(),
    cover_download_url: Type.Optional(Type.String()),
    last_update_time: Type.String(),
    create_time: Type.String(),
    contact: Type.Optional(Type.String()),
    batch_name: Type.Optional(Type.String()),
    tags: Type.Array(Type.String()),
    model_version: Type.String(),
    matting_type: Type.String(),
    model_resolution: Type.String(),
    app_user_id: Type.Optional(Type.String()),
  },
  { title: "TrainingJobBasicInfo" },
);
export type TrainingJobBasicInfo = Static<typeof TrainingJobBasicInfoSchema>;

export const ListJobsResponseSchema = Type.Object({
  count: Type.Integer(),
  jobs: Type.Array(TrainingJobBasicInfoSchema),
});

/** Body of Create2dModelTrainingJob (every field of the reference; unknown fields are ignored). */
export const CreateJobBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 64 }),
  contact: Type.Optional(Type.String({ maxLength: 255 })),
  command_message: Type.Optional(Type.String({ maxLength: 64 })),
  video_multipart_count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  action_video_multipart_count: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  is_background_replacement: Type.Optional(Type.Boolean()),
  batch_name: Type.Optional(Type.String({ maxLength: 255 })),
  tags: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 })),
  model_version: Type.Optional(StringEnum(["V2", "V3", "V3.2", "V3.3"])),
  model_resolution: Type.Optional(StringEnum(["1080P", "4K"])),
  matting_type: Type.Optional(StringEnum(["AI", "MANUAL"])),
  audio_source_type: Type.Optional(StringEnum(["VIDEO", "AUDIO"])),
  voice_properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  is_flexus: Type.Optional(Type.Boolean()),
  is_live_copy: Type.Optional(Type.Boolean()),
  is_ondemand_resource: Type.Optional(Type.Boolean()),
  is_only_human_model: Type.Optional(Type.Boolean()),
});
export type CreateJobBody = Static<typeof CreateJobBodySchema>;

/** Create and Update: the job and its signed upload URLs (PUT the bytes; valid 24 hours). */
export const CreateJobResponseSchema = Type.Object(
  {
    job_id: Type.String(),
    training_video_upload_url: Type.Array(Type.String(), { description: "One URL per part, in order" }),
    action_video_upload_url: Type.Array(Type.String()),
    cover_upload_url: Type.String(),
    grant_file_upload_url: Type.String({ description: "The consent video or signed letter" }),
    audio_upload_url: Type.String(),
  },
  { title: "JobUploadUrls" },
);

export const JobParamsSchema = Type.Object({
  project_id: Type.String({ minLength: 1, maxLength: 64 }),
  job_id: Type.String({ minLength: 1, maxLength: 64 }),
});

export const OperationLogSchema = Type.Object(
  {
    operate_time: Type.String(),
    log_type: Type.String(),
    log_description: Type.String(),
    operate_user: Type.String(),
    error_code: Type.Optional(Type.String()),
    redo_reasons: Type.Array(Type.String()),
  },
  { title: "OperationLog" },
);

/** Show2dModelTrainingJob: the list fields plus options and the operation history. */
export const ShowJobResponseSchema = Type.Composite(
  [
    TrainingJobBasicInfoSchema,
    Type.Object({
      video_multipart_count: Type.Integer(),
      action_video_multipart_count: Type.Integer(),
      command_message: Type.Optional(Type.String()),
      audio_source_type: Type.Optional(Type.String()),
      is_background_replacement: Type.Optional(Type.Boolean()),
      training_video_download_url: Type.Optional(Type.String()),
      action_video_download_url: Type.Optional(Type.String()),
      grant_file_download_url: Type.Optional(Type.String()),
      audio_file_download_url: Type.Optional(Type.String()),
      operation_logs: Type.Array(OperationLogSchema),
    }),
  ],
  { title: "TrainingJobDetail" },
);
export type ShowJobResponse = Static<typeof ShowJobResponseSchema>;

/** Body of Execute2dModelTrainingCommandByUser. */
export const CommandBodySchema = Type.Object({
  command: Type.String({ minLength: 1, maxLength: 64 }),
  command_message: Type.Optional(Type.String({ maxLength: 1024 })),
  comment_data: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

/** Huawei's spellings, `commond_result` and `EXCUTE_*` included. */
export const CommandResponseSchema = Type.Object({
  commond_result: Type.String(),
  multipart_data: Type.Optional(
    Type.Array(Type.Object({ part_number: Type.Integer(), etag: Type.String() })),
  ),
});

/*
 * The asset library (digital-assets), as far as it holds trained 2D human models. Fields, limits and
 * defaults from Huawei's SDK models and API pages; see docs/design/asset-apis.md §1 for the sources.
 */

/** Query of ListAssets. Filters Doppel has nothing for (voices, 3D styles, devices) are accepted and ignored. */
export const ListAssetsQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  offset: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 }),
  name: Type.Optional(Type.String({ maxLength: 1024, description: "part of the asset name" })),
  tag: Type.Optional(Type.String({ maxLength: 1024, description: "part of a tag" })),
  start_time: Type.Optional(Type.String({ maxLength: 64, description: "RFC 3339; created at or after" })),
  end_time: Type.Optional(Type.String({ maxLength: 64, description: "RFC 3339; created at or before" })),
  asset_type: Type.Optional(Type.String({ maxLength: 1024, description: "comma list of asset types" })),
  asset_state: Type.Optional(Type.String({ maxLength: 1024, description: "comma list; default all states" })),
  asset_source: StringEnum(["SYSTEM", "CUSTOMIZATION", "ALL"], { default: "CUSTOMIZATION" }),
  asset_id: Type.Optional(Type.String({ maxLength: 4096, description: "comma list of asset ids" })),
  sort_key: StringEnum(["create_time", "update_time"], { default: "create_time" }),
  sort_dir: StringEnum(["asc", "desc"], { default: "asc" }),
  human_model_2d_version: Type.Optional(Type.String({ maxLength: 16 })),
});
export type ListAssetsQueryWire = Static<typeof ListAssetsQuerySchema>;

export const AssetParamsSchema = Type.Object({
  project_id: Type.String({ minLength: 1, maxLength: 64 }),
  asset_id: Type.String({ minLength: 1, maxLength: 64 }),
});

export const DeleteAssetQuerySchema = Type.Object({
  mode: Type.Optional(
    StringEnum(["force"], { description: "delete for good instead of into the recycle bin" }),
  ),
});

/** AssetFileInfo: one downloadable file of an asset. */
export const AssetFileInfoSchema = Type.Object(
  {
    file_id: Type.String(),
    file_name: Type.String(),
    file_size: Type.Integer(),
    file_type: Type.String({ description: "the file's extension" }),
    asset_file_category: StringEnum(["MAIN", "COVER", "SAMPLE", "OTHER"]),
    download_url: Type.String({ description: "signed, valid 24 hours" }),
    state: StringEnum(["CREATED"]),
    /** Doppel's addition: the file's SHA-256 (hex), as the package's manifest records it. */
    file_sha256: Type.Optional(Type.String()),
  },
  { additionalProperties: false, title: "AssetFileInfo" },
);

/** HumanModel2DAssetMeta: what the 2D human model was trained as. */
export const HumanModel2dMetaSchema = Type.Object(
  {
    is_action_editable: Type.Boolean(),
    support_live: Type.Boolean(),
    model_version: Type.String({ description: "V2, V3, V3_2 or V3_3 (the job's V3.2 is V3_2 here)" }),
    model_resolution: Type.String(),
    is_with_action_library: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** DigitalAssetInfo: one asset, as ListAssets lists it and ShowAsset and UpdateDigitalAsset answer it. */
export const DigitalAssetInfoSchema = Type.Object(
  {
    project_id: Type.String(),
    asset_id: Type.String(),
    asset_name: Type.String(),
    asset_description: Type.Optional(Type.String()),
    app_user_id: Type.Optional(Type.String()),
    create_time: Type.String(),
    update_time: Type.String(),
    asset_type: Type.String(),
    asset_state: Type.String(),
    tags: Type.Array(Type.String()),
    asset_extra_meta: Type.Object(
      { human_model_2d_meta: HumanModel2dMetaSchema },
      { additionalProperties: false },
    ),
    files: Type.Optional(Type.Array(AssetFileInfoSchema)),
    /** Doppel's addition: the training job that made this asset. */
    job_id: Type.Optional(Type.String()),
  },
  { additionalProperties: false, title: "DigitalAssetInfo" },
);
export type DigitalAssetInfo = Static<typeof DigitalAssetInfoSchema>;

export const ListAssetsResponseSchema = Type.Object(
  { count: Type.Integer(), assets: Type.Array(DigitalAssetInfoSchema) },
  { additionalProperties: false },
);

/** UpdateDigitalAsset's body: what Doppel changes; the SDK's other fields are accepted and ignored. */
export const UpdateAssetBodySchema = Type.Object({
  asset_name: Type.Optional(Type.String({ maxLength: 1024 })),
  asset_description: Type.Optional(Type.String({ maxLength: 4096 })),
  tags: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 100 })),
  asset_state: Type.Optional(StringEnum(["ACTIVED", "UNACTIVED"])),
  asset_type: Type.Optional(StringEnum(["HUMAN_MODEL_2D"])),
});
export type UpdateAssetBody = Static<typeof UpdateAssetBodySchema>;

/** Doppel's extension: what verification saw of a job (MetaStudio shows no such thing). */
export const JobVerificationResponseSchema = Type.Object(
  {
    verify_report: Type.Union([VerifyReportSchema, Type.Null()], {
      description: "What the automatic checks found, or null while the job has not been verified",
    }),
  },
  { additionalProperties: false },
);
