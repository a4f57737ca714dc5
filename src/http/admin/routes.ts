import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import type { Job } from "../../domain/job.js";
import { formatUtcSeconds } from "../../domain/time.js";
import { authenticateAdmin } from "../../services/admin-tokens.service.js";
import type { ServiceContext } from "../../services/context.js";
import {
  approveReview,
  listPipelineTasks,
  listReviewQueue,
  rejectReview,
} from "../../services/review.service.js";
import { originOf } from "../origin.js";
import { ErrorSchema } from "../schemas/error-body.js";
import type { VerifyReportBody } from "../schemas/verify-report.js";
import {
  AdminJobParamsSchema,
  AdminPagingSchema,
  ApproveBodySchema,
  RejectBodySchema,
  ReviewedJobSchema,
  ReviewQueueResponseSchema,
  TaskListResponseSchema,
} from "./schemas.js";

declare module "fastify" {
  interface FastifyRequest {
    operator?: string;
  }
}

const Errors = { "4xx": ErrorSchema, "5xx": ErrorSchema };

/**
 * Doppel's own admin API, for operators (`Authorization: Bearer <operator token>`; project
 * credentials are refused): the manual review queue, and the pipeline's live tasks with their
 * progress. Errors use MetaStudio's envelope.
 */
export async function adminRoutes(parent: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();
  const { ctx } = opts;
  // A bearer token is all there is to check: it is checked before the body is read.
  app.addHook("onRequest", async (request) => {
    request.operator = await authenticateAdmin(ctx, request.headers.authorization);
  });

  app.get(
    "/admin/v1/reviews",
    {
      schema: {
        operationId: "ListReviews",
        summary: "Jobs waiting for review",
        description: "Every project's jobs in MANUAL_VERIFYING, the longest-waiting first.",
        tags: ["Review"],
        querystring: AdminPagingSchema,
        response: { 200: ReviewQueueResponseSchema, ...Errors },
      },
    },
    async (request) => {
      const { count, items } = await listReviewQueue(ctx, request.query, originOf(request));
      // The verify stage wrote the report; the response schema holds it to VerifyReport on the way out.
      const jobs = items.map((item) => ({
        ...presentJob(item.job),
        verify_report: item.report as VerifyReportBody | null,
        training_video_download_url: item.files["training-video"],
        grant_file_download_url: item.files["grant-file"],
      }));
      return { count, jobs };
    },
  );

  app.get(
    "/admin/v1/tasks",
    {
      schema: {
        operationId: "ListTasks",
        summary: "The pipeline's live tasks",
        description: "Queued and running tasks with their progress, leases and last errors.",
        tags: ["Pipeline"],
        querystring: AdminPagingSchema,
        response: { 200: TaskListResponseSchema, ...Errors },
      },
    },
    async (request) => {
      const { count, tasks } = await listPipelineTasks(ctx, request.query);
      return {
        count,
        tasks: tasks.map((task) => ({
          task_id: task.id,
          job_id: task.jobId,
          stage: task.stage,
          state: task.state,
          progress: task.progress,
          claims: task.claims,
          failures: task.failures,
          ...(task.leaseOwner !== null && { worker: task.leaseOwner }),
          ...(task.leaseUntil !== null && { lease_until: new Date(task.leaseUntil).toISOString() }),
          run_at: new Date(task.runAt).toISOString(),
          ...(task.lastError !== null && { last_error: task.lastError }),
        })),
      };
    },
  );

  app.post(
    "/admin/v1/reviews/:job_id/approve",
    {
      // The body is optional: an approval needs no comment.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        operationId: "ApproveReview",
        summary: "Approve a job in review",
        description: "MANUAL_VERIFY_SUCCESS, then on to preprocessing.",
        tags: ["Review"],
        params: AdminJobParamsSchema,
        body: ApproveBodySchema,
        response: { 200: ReviewedJobSchema, ...Errors },
        openapi: { requestBody: { required: false } },
      },
    },
    async (request) =>
      presentJob(await approveReview(ctx, operatorOf(request), request.params.job_id, request.body.comment)),
  );

  app.post(
    "/admin/v1/reviews/:job_id/reject",
    {
      schema: {
        operationId: "RejectReview",
        summary: "Reject a job in review",
        description: "MANUAL_VERIFY_FAILED, with a reason the user sees.",
        tags: ["Review"],
        params: AdminJobParamsSchema,
        body: RejectBodySchema,
        response: { 200: ReviewedJobSchema, ...Errors },
      },
    },
    async (request) =>
      presentJob(await rejectReview(ctx, operatorOf(request), request.params.job_id, request.body.reason)),
  );
}

function operatorOf(request: { operator?: string }): string {
  if (request.operator === undefined) throw new Error("admin route reached without authentication");
  return request.operator;
}

function presentJob(job: Job) {
  return {
    job_id: job.id,
    project_id: job.projectId,
    name: job.name,
    state: job.state,
    update_time: formatUtcSeconds(job.updateTime),
    ...(job.message !== null && { message: job.message }),
  };
}
