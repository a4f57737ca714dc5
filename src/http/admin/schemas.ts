import { Type } from "@sinclair/typebox";
import { STAGES } from "../../domain/pipeline.js";
import { StringEnum } from "../schemas/string-enum.js";
import { VerifyReportSchema } from "../schemas/verify-report.js";

/** `offset`/`limit` of the admin lists. */
export const AdminPagingSchema = Type.Object({
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

export const AdminJobParamsSchema = Type.Object({ job_id: Type.String({ maxLength: 64 }) });

const reviewJobFields = {
  job_id: Type.String(),
  project_id: Type.String(),
  name: Type.String(),
  state: Type.String({ description: "The job's MetaStudio state" }),
  update_time: Type.String({ description: "UTC, e.g. 2026-01-31T12:00:00Z" }),
  message: Type.Optional(Type.String({ description: "Why the job stopped, when it did" })),
};

/** A job in the review queue, with what the automatic checks found. */
export const ReviewJobSchema = Type.Object(
  {
    ...reviewJobFields,
    verify_report: Type.Union([VerifyReportSchema, Type.Null()], {
      description: "What the automatic checks found, or null when the job has no report",
    }),
    training_video_download_url: Type.Optional(Type.String({ description: "Signed, 24 hours" })),
    grant_file_download_url: Type.Optional(
      Type.String({ description: "The consent video or letter; signed, 24 hours" }),
    ),
  },
  { title: "ReviewJob" },
);

/** The job as a decision leaves it. */
export const ReviewedJobSchema = Type.Object(reviewJobFields, { title: "ReviewedJob" });

export const ReviewQueueResponseSchema = Type.Object({
  count: Type.Integer({ description: "Jobs waiting in MANUAL_VERIFYING" }),
  jobs: Type.Array(ReviewJobSchema),
});

export const PipelineTaskSchema = Type.Object(
  {
    task_id: Type.String(),
    job_id: Type.String(),
    stage: StringEnum(STAGES),
    state: StringEnum(["queued", "running", "done"], { description: "Live tasks only: queued or running" }),
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    claims: Type.Integer({ description: "How often the task was claimed" }),
    failures: Type.Integer(),
    worker: Type.Optional(Type.String({ description: "The worker holding the lease" })),
    lease_until: Type.Optional(Type.String({ description: "ISO 8601" })),
    run_at: Type.String({ description: "ISO 8601: when the task is due" }),
    last_error: Type.Optional(Type.String()),
  },
  { title: "PipelineTask" },
);

export const TaskListResponseSchema = Type.Object({
  count: Type.Integer(),
  tasks: Type.Array(PipelineTaskSchema),
});

export const ApproveBodySchema = Type.Object({
  comment: Type.Optional(Type.String({ maxLength: 1000, description: "Shown in the job's operation log" })),
});

export const RejectBodySchema = Type.Object({
  reason: Type.String({ minLength: 1, maxLength: 1000, description: "Why; the user sees it" }),
});
