import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
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
import { ErrorSchema } from "../dialects/metastudio/schemas.js";

declare module "fastify" {
  interface FastifyRequest {
    operator?: string;
  }
}

const ReviewJobSchema = Type.Object({
  job_id: Type.String(),
  project_id: Type.String(),
  name: Type.String(),
  state: Type.String(),
  update_time: Type.String(),
  message: Type.Optional(Type.String()),
  /** What the automatic checks found (probe, faces, consent), as the verify stage wrote it. */
  verify_report: Type.Unknown(),
});

const JobParams = Type.Object({ job_id: Type.String({ maxLength: 64 }) });
const Paging = Type.Object({
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

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
        querystring: Paging,
        response: {
          200: Type.Object({ count: Type.Integer(), jobs: Type.Array(ReviewJobSchema) }),
          "4xx": ErrorSchema,
          "5xx": ErrorSchema,
        },
      },
    },
    async (request) => {
      const { count, items } = await listReviewQueue(ctx, request.query);
      return { count, jobs: items.map((item) => ({ ...presentJob(item.job), verify_report: item.report })) };
    },
  );

  app.get(
    "/admin/v1/tasks",
    {
      schema: {
        querystring: Paging,
        response: {
          200: Type.Object({
            count: Type.Integer(),
            tasks: Type.Array(
              Type.Object({
                task_id: Type.String(),
                job_id: Type.String(),
                stage: Type.String(),
                state: Type.String(),
                progress: Type.Number(),
                claims: Type.Integer(),
                failures: Type.Integer(),
                worker: Type.Optional(Type.String()),
                lease_until: Type.Optional(Type.String()),
                run_at: Type.String(),
                last_error: Type.Optional(Type.String()),
              }),
            ),
          }),
          "4xx": ErrorSchema,
          "5xx": ErrorSchema,
        },
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
        params: JobParams,
        body: Type.Object({ comment: Type.Optional(Type.String({ maxLength: 1000 })) }),
        response: {
          200: Type.Omit(ReviewJobSchema, ["verify_report"]),
          "4xx": ErrorSchema,
          "5xx": ErrorSchema,
        },
      },
    },
    async (request) =>
      presentJob(await approveReview(ctx, operatorOf(request), request.params.job_id, request.body.comment)),
  );

  app.post(
    "/admin/v1/reviews/:job_id/reject",
    {
      schema: {
        params: JobParams,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1000 }) }),
        response: {
          200: Type.Omit(ReviewJobSchema, ["verify_report"]),
          "4xx": ErrorSchema,
          "5xx": ErrorSchema,
        },
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
