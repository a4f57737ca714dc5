import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Principal } from "../../../auth/signed-request.js";
import { DoppelError, invalidParameter } from "../../../domain/errors.js";
import { TRAINING_COMMANDS, type TrainingCommand } from "../../../domain/job-commands.js";
import { checkAppUserId } from "../../../domain/text.js";
import type { Caller } from "../../../services/caller.js";
import type { ServiceContext } from "../../../services/context.js";
import { runCommand } from "../../../services/job-commands.service.js";
import type { UploadUrls } from "../../../services/job-files.service.js";
import { createJob, deleteJob, showJob, updateJob } from "../../../services/jobs.service.js";
import { listJobsWithCovers } from "../../../services/list-jobs.service.js";
import { finishAuthentication, startAuthentication } from "../../authentication.js";
import { originOf } from "../../origin.js";
import { EmptyBody } from "../../schemas/empty-body.js";
import { ErrorSchema } from "../../schemas/error-body.js";
import { strictIntegerQuery } from "../../schemas/strict-integers.js";
import { assetRoutes } from "./asset-routes.js";
import { eventRoutes } from "./event-routes.js";
import { jobInputOf, parseListQuery } from "./parse.js";
import { presentBasicInfo, presentDetail } from "./presenter.js";
import {
  CommandBodySchema,
  CommandResponseSchema,
  CreateJobBodySchema,
  CreateJobResponseSchema,
  JobParamsSchema,
  ListJobsQuerySchema,
  ListJobsResponseSchema,
  ProjectParamsSchema,
  ShowJobResponseSchema,
} from "./schemas.js";
import { verificationRoutes } from "./verification-routes.js";

declare module "fastify" {
  interface FastifyRequest {
    caller?: Caller;
  }
}

export const JOBS_PATH = "/v1/:project_id/digital-human-training-manage/user/jobs";

/** The group of these operations in the OpenAPI document. */
const TAG = "Training jobs";

/** Huawei MetaStudio's digital-human-training-manage API. */
export async function metaStudioRoutes(
  parent: FastifyInstance,
  opts: { ctx: ServiceContext },
): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();
  const { ctx } = opts;

  // Before the body is read: a token, or a signed request without a body, is authenticated (and its
  // project checked) from the head; a signature over a body is checked as far as the head allows.
  const start = startAuthentication(ctx, "huawei");
  app.addHook("onRequest", async (request) => {
    await start(request);
    const known = request.headAuthentication?.principal;
    if (known) request.caller = callerFor(request, known);
  });
  // Authenticate before validating, so an unauthenticated caller learns nothing about parameters.
  app.addHook("preValidation", async (request) => {
    const principal = await finishAuthentication(request);
    request.caller ??= callerFor(request, principal);
  });

  app.get(
    JOBS_PATH,
    {
      preValidation: strictIntegerQuery(ListJobsQuerySchema),
      schema: {
        operationId: "List2dModelTrainingJob",
        summary: "List training jobs",
        tags: [TAG],
        params: ProjectParamsSchema,
        querystring: ListJobsQuerySchema,
        response: { 200: ListJobsResponseSchema, "4xx": ErrorSchema, "5xx": ErrorSchema },
      },
    },
    async (request) => {
      const { count, jobs } = await listJobsWithCovers(
        ctx,
        callerOf(request),
        parseListQuery(request.query),
        originOf(request),
      );
      return { count, jobs: jobs.map(({ job, coverUrl }) => presentBasicInfo(job, coverUrl)) };
    },
  );

  commandRoute(app, ctx);
  assetRoutes(app, ctx, callerOf, originOf);
  eventRoutes(app, ctx, callerOf);
  verificationRoutes(app, ctx, callerOf);

  app.post(
    JOBS_PATH,
    {
      schema: {
        operationId: "Create2dModelTrainingJob",
        summary: "Create a training job",
        description: "Answers with the job's signed upload URLs. The same X-Client-Token names the same job.",
        tags: [TAG],
        params: ProjectParamsSchema,
        body: CreateJobBodySchema,
        response: { 200: CreateJobResponseSchema, "4xx": ErrorSchema, "5xx": ErrorSchema },
        openapi: { parameters: [{ $ref: "#/components/parameters/X-Client-Token" }] },
      },
    },
    async (request) => {
      const token = request.headers["x-client-token"];
      const { job, uploadUrls } = await createJob(
        ctx,
        callerOf(request),
        {
          ...jobInputOf(request.body),
          name: request.body.name,
          clientToken: typeof token === "string" ? token : undefined,
        },
        originOf(request),
      );
      return presentUploadUrls(uploadUrls, job.id);
    },
  );

  app.put(
    `${JOBS_PATH}/:job_id`,
    {
      schema: {
        operationId: "Update2dModelTrainingJob",
        summary: "Update a job after a failed check",
        description: "Allowed in AUTO_VERIFY_FAILED and MANUAL_VERIFY_FAILED; answers with new upload URLs.",
        tags: [TAG],
        params: JobParamsSchema,
        body: Type.Partial(CreateJobBodySchema),
        response: { 200: CreateJobResponseSchema, "4xx": ErrorSchema, "5xx": ErrorSchema },
      },
    },
    async (request) => {
      const { job, uploadUrls } = await updateJob(
        ctx,
        callerOf(request),
        request.params.job_id,
        { ...jobInputOf(request.body), name: request.body.name },
        originOf(request),
      );
      return presentUploadUrls(uploadUrls, job.id);
    },
  );

  app.get(
    `${JOBS_PATH}/:job_id`,
    {
      schema: {
        operationId: "Show2dModelTrainingJob",
        summary: "Show a job",
        description: "With signed download URLs of its files and its operation log.",
        tags: [TAG],
        params: JobParamsSchema,
        response: { 200: ShowJobResponseSchema, "4xx": ErrorSchema, "5xx": ErrorSchema },
      },
    },
    async (request) => {
      return presentDetail(await showJob(ctx, callerOf(request), request.params.job_id, originOf(request)));
    },
  );

  app.delete(
    `${JOBS_PATH}/:job_id`,
    {
      schema: {
        operationId: "Delete2dModelTrainingJob",
        summary: "Delete a job and its files",
        tags: [TAG],
        params: JobParamsSchema,
        response: {
          200: EmptyBody("Deleted; the body is empty"),
          "4xx": ErrorSchema,
          "5xx": ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      await deleteJob(ctx, callerOf(request), request.params.job_id);
      // MetaStudio answers a delete with 200, an empty body and only the X-Request-Id header.
      return reply.status(200).send(undefined);
    },
  );
}

const COMMAND_PATH = `${JOBS_PATH}/:job_id/command`;

/** Registered separately so the main plugin stays about jobs; shares its hooks through `app`. */
function commandRoute(app: FastifyInstance, ctx: ServiceContext): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(
    COMMAND_PATH,
    {
      schema: {
        operationId: "Execute2dModelTrainingCommandByUser",
        summary: "Run a command on a job",
        description: `One of ${TRAINING_COMMANDS.join(", ")} (README, Commands).`,
        tags: [TAG],
        params: JobParamsSchema,
        body: CommandBodySchema,
        response: { 200: CommandResponseSchema, "4xx": ErrorSchema, "5xx": ErrorSchema },
      },
    },
    async (request) => {
      const { command, command_message: message } = request.body;
      if (!(TRAINING_COMMANDS as readonly string[]).includes(command)) {
        throw invalidParameter(
          "command",
          `${JSON.stringify(command.slice(0, 64))} is not a command Doppel carries out; use one of ${TRAINING_COMMANDS.join(", ")}`,
        );
      }
      const result = await runCommand(
        ctx,
        callerOf(request),
        request.params.job_id,
        command as TrainingCommand,
        message,
      );
      return {
        commond_result: "EXCUTE_SUCCESS",
        multipart_data: result.multipartData?.map((p) => ({ part_number: p.partNumber, etag: p.etag })),
      };
    },
  );
}

/** Create and Update answer with the job id and absolute, signed upload URLs. */
function presentUploadUrls(urls: UploadUrls, jobId: string) {
  return {
    job_id: jobId,
    training_video_upload_url: urls.trainingVideo,
    action_video_upload_url: urls.actionVideo,
    cover_upload_url: urls.cover,
    grant_file_upload_url: urls.grantFile,
    audio_upload_url: urls.audio,
  };
}

/** The caller a principal makes of a request, once its URL and headers name the principal's project. */
function callerFor(request: FastifyRequest, principal: Principal): Caller {
  const urlProject = (request.params as { project_id?: string }).project_id;
  if (urlProject !== undefined && urlProject !== principal.projectId) {
    throw new DoppelError(
      "PROJECT_MISMATCH",
      "The project_id in the URL is not the project of these credentials",
    );
  }
  const headerProject = request.headers["x-project-id"];
  if (typeof headerProject === "string" && headerProject !== principal.projectId) {
    throw new DoppelError("PROJECT_MISMATCH", "X-Project-Id is not the project of these credentials");
  }
  const appUser = request.headers["x-app-userid"];
  return { principal, appUserId: typeof appUser === "string" ? checkAppUserId(appUser) : undefined };
}

function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Error("route reached without authentication");
  return request.caller;
}
