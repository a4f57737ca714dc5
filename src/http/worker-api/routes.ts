import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
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
import { ErrorSchema } from "../dialects/metastudio/schemas.js";
import { detachedBody } from "../plugins/unread-bodies.js";

const Worker = Type.String({ minLength: 1, maxLength: 100 });
const TaskParams = Type.Object({ task_id: Type.String({ maxLength: 64 }) });
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
        body: Type.Object({ worker: Worker }),
        response: {
          200: Type.Object({
            task: Type.Union([
              Type.Null(),
              Type.Object({
                task_id: Type.String(),
                job_id: Type.String(),
                stage: Type.String(),
                claim: Type.Integer(),
                lease_seconds: Type.Number(),
                inputs: Type.Record(Type.String(), Type.String()),
                input_sha256: Type.Record(Type.String(), Type.String()),
                output_url: Type.String(),
              }),
            ]),
          }),
          ...Errors,
        },
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
        params: TaskParams,
        body: Type.Object({
          worker: Worker,
          progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
        }),
        response: { 200: Type.Object({ lease_seconds: Type.Number() }), ...Errors },
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
        params: TaskParams,
        body: Type.Object({ worker: Worker, description: Type.Optional(Type.String({ maxLength: 500 })) }),
        response: { 200: Type.Object({ status: Type.Literal("completed") }), ...Errors },
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
        params: TaskParams,
        body: Type.Object({
          worker: Worker,
          reason: Type.String({ maxLength: 1000 }),
          retry: Type.Optional(Type.Boolean()),
        }),
        response: {
          200: Type.Object({ status: Type.String(), retry_in_seconds: Type.Optional(Type.Integer()) }),
          ...Errors,
        },
      },
    },
    async (request) => {
      const result = await failRemoteTask(ctx, request.body.worker, request.params.task_id, {
        reason: request.body.reason,
        retry: request.body.retry ?? false,
      });
      return result.retryInSeconds === undefined
        ? { status: "failed" }
        : { status: "retrying", retry_in_seconds: result.retryInSeconds };
    },
  );
}

const ClaimParams = Type.Object({
  task_id: Type.String({ maxLength: 64 }),
  claim: Type.String({ pattern: "^[0-9]{1,9}$" }),
});
const SignedQuery = Type.Object({
  expires: Type.Optional(Type.String({ maxLength: 16 })),
  signature: Type.Optional(Type.String({ maxLength: 128 })),
});

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
        params: Type.Object({ ...ClaimParams.properties, name: Type.String({ maxLength: 64 }) }),
        querystring: SignedQuery,
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
        params: Type.Object({ ...ClaimParams.properties, "*": Type.String() }),
        querystring: SignedQuery,
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
