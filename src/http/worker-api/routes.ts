import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { authenticateAdmin } from "../../services/admin-tokens.service.js";
import type { ServiceContext } from "../../services/context.js";
import {
  claimRemoteTask,
  completeRemoteTask,
  failRemoteTask,
  heartbeatRemoteTask,
  inputPath,
  openRemoteInput,
  outputPathPattern,
  receiveRemoteOutput,
} from "../../services/remote-worker.service.js";
import { detachedBody } from "../plugins/unread-bodies.js";
import { ErrorSchema } from "../schemas/error-body.js";
import {
  ClaimBodySchema,
  ClaimResponseSchema,
  CompleteBodySchema,
  CompletedResponseSchema,
  FailBodySchema,
  FailedResponseSchema,
  HeartbeatBodySchema,
  InputParamsSchema,
  LeaseResponseSchema,
  OutputParamsSchema,
  SignedQuerySchema,
  TaskParamsSchema,
} from "./schemas.js";

const Errors = { "4xx": ErrorSchema, "5xx": ErrorSchema };

/**
 * The worker protocol (README, "Trainers"): `/worker/v1/…`. Control calls take an operator token
 * (`Authorization: Bearer …`); input downloads and output uploads are authorised by the signed URLs
 * the claim hands out. Errors use MetaStudio's envelope.
 */
export async function workerApiRoutes(parent: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  await parent.register(controlRoutes, opts);
  await parent.register(fileRoutes, opts);
}

async function controlRoutes(parent: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();
  const { ctx } = opts;
  // A bearer token is all there is to check: it is checked before the body is read.
  app.addHook("onRequest", async (request) => {
    await authenticateAdmin(ctx, request.headers.authorization);
  });

  app.post(
    "/worker/v1/claim",
    {
      schema: {
        operationId: "ClaimTask",
        summary: "Claim the next due training task",
        description: "Takes the task under a lease and answers its signed input and output URLs.",
        tags: ["Tasks"],
        body: ClaimBodySchema,
        response: { 200: ClaimResponseSchema, ...Errors },
      },
    },
    async (request) => {
      const claim = await claimRemoteTask(ctx, request.body.worker, `${request.protocol}://${request.host}`);
      if (!claim) return { task: null };
      return {
        task: {
          task_id: claim.task.id,
          job_id: claim.task.jobId,
          stage: claim.task.stage,
          claim: claim.task.claims,
          lease_seconds: claim.leaseSeconds,
          inputs: claim.inputs,
          input_sha256: claim.inputSha256,
          output_url: claim.outputUrl,
        },
      };
    },
  );

  app.post(
    "/worker/v1/tasks/:task_id/heartbeat",
    {
      schema: {
        operationId: "HeartbeatTask",
        summary: "Keep a claimed task's lease, with its progress",
        tags: ["Tasks"],
        params: TaskParamsSchema,
        body: HeartbeatBodySchema,
        response: { 200: LeaseResponseSchema, ...Errors },
      },
    },
    async (request) => {
      const { leaseSeconds } = await heartbeatRemoteTask(
        ctx,
        request.body.worker,
        request.params.task_id,
        request.body.progress,
      );
      return { lease_seconds: leaseSeconds };
    },
  );

  app.post(
    "/worker/v1/tasks/:task_id/complete",
    {
      schema: {
        operationId: "CompleteTask",
        summary: "Finish a claimed task once its package is uploaded",
        description: "The package is checked; the job moves on to TRAIN_SUCCESS and packaging.",
        tags: ["Tasks"],
        params: TaskParamsSchema,
        body: CompleteBodySchema,
        response: { 200: CompletedResponseSchema, ...Errors },
      },
    },
    async (request) => {
      await completeRemoteTask(ctx, request.body.worker, request.params.task_id, request.body.description);
      return { status: "completed" as const };
    },
  );

  app.post(
    "/worker/v1/tasks/:task_id/fail",
    {
      schema: {
        operationId: "FailTask",
        summary: "Give a claimed task up",
        description:
          "With retry, the task is due again after a backoff; otherwise the job fails (TRAIN_FAILED).",
        tags: ["Tasks"],
        params: TaskParamsSchema,
        body: FailBodySchema,
        response: { 200: FailedResponseSchema, ...Errors },
      },
    },
    async (request) => {
      const result = await failRemoteTask(ctx, request.body.worker, request.params.task_id, {
        reason: request.body.reason,
        retry: request.body.retry ?? false,
      });
      return result.retryInSeconds === undefined
        ? { status: "failed" as const }
        : { status: "retrying" as const, retry_in_seconds: result.retryInSeconds };
    },
  );
}

/** Inputs and outputs by signed URL; bodies stream, never parsed. */
async function fileRoutes(app: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const { ctx } = opts;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

  app.get(
    "/worker/v1/tasks/:task_id/:claim/inputs/:name",
    {
      preValidation: async (request) => {
        const { task_id, claim, name } = request.params as { task_id: string; claim: string; name: string };
        const query = request.query as { expires?: string; signature?: string };
        ctx.urls.verify(
          "GET",
          inputPath(task_id, Number(claim), name),
          query.expires,
          query.signature,
          ctx.now(),
        );
      },
      schema: {
        operationId: "DownloadInput",
        summary: "Download one input of a claimed task",
        description: "The URL comes from the claim's inputs; its signature is the credential.",
        tags: ["Files"],
        params: InputParamsSchema,
        querystring: SignedQuerySchema,
        response: Errors,
        openapi: {
          security: [],
          responses: {
            200: {
              description: "The file's bytes",
              content: {
                "application/octet-stream": {
                  schema: { type: "string", contentMediaType: "application/octet-stream" },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { task_id, claim, name } = request.params as { task_id: string; claim: string; name: string };
      return reply
        .header("Content-Type", "application/octet-stream")
        .send(await openRemoteInput(ctx, task_id, Number(claim), name));
    },
  );

  app.put(
    "/worker/v1/tasks/:task_id/:claim/outputs/*",
    {
      preValidation: async (request) => {
        const { task_id, claim } = request.params as { task_id: string; claim: string };
        const query = request.query as { expires?: string; signature?: string };
        // One signature covers every file of the claim's package: it signs the path with `*`.
        ctx.urls.verify(
          "PUT",
          outputPathPattern(task_id, Number(claim)),
          query.expires,
          query.signature,
          ctx.now(),
        );
      },
      schema: {
        operationId: "UploadOutput",
        summary: "Upload one file of the trained package",
        description:
          "The URL is the claim's output_url with {path} replaced by the file's path in the package.",
        tags: ["Files"],
        params: OutputParamsSchema,
        querystring: SignedQuerySchema,
        response: Errors,
        openapi: {
          security: [],
          requestBody: {
            required: true,
            content: {
              "application/octet-stream": {
                schema: { type: "string", contentMediaType: "application/octet-stream" },
              },
            },
          },
          responses: {
            200: {
              description: "Stored; the body is empty",
              headers: { ETag: { description: "The MD5 of the file, quoted", schema: { type: "string" } } },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const params = request.params as { task_id: string; claim: string; "*": string };
      // The router ignores a trailing slash (`a/` routes as `a`); the package path is what was sent.
      const sent = (request.raw.url ?? "").split("?")[0]?.endsWith("/") ? `${params["*"]}/` : params["*"];
      const stored = await receiveRemoteOutput(
        ctx,
        params.task_id,
        Number(params.claim),
        sent,
        detachedBody(request.raw),
      );
      return reply.status(200).header("ETag", `"${stored.etag}"`).send("");
    },
  );
}
