import { type Static, Type } from "@sinclair/typebox";
import { StringEnum } from "../../schemas/string-enum.js";

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
export const TrainingJobBasicInfoSchema = Type.Object({
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
});
export type TrainingJobBasicInfo = Static<typeof TrainingJobBasicInfoSchema>;

export const ListJobsResponseSchema = Type.Object({
  count: Type.Integer(),
  jobs: Type.Array(TrainingJobBasicInfoSchema),
});

export const ErrorSchema = Type.Object({ error_code: Type.String(), error_msg: Type.String() });
