import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { FILE_SLOTS, type FileSlot } from "../../domain/job-files.js";
import type { ServiceContext } from "../../services/context.js";
import { jobFileDownload } from "../../services/job-files.service.js";
import { receiveMediaUpload } from "../../services/media.service.js";
import { receiveUpload } from "../../services/uploads.service.js";
import { verifyImageDownload } from "../../services/verification.service.js";
import { serveDownload } from "../downloads/serve-download.js";
import { detachedBody } from "../plugins/unread-bodies.js";
import { strictIntegers } from "../schemas/strict-integers.js";
import { StringEnum } from "../schemas/string-enum.js";

const UploadParams = Type.Object({
  job_id: Type.String({ maxLength: 64 }),
  slot: StringEnum(FILE_SLOTS),
  part: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
const UploadQuery = Type.Object({
  expires: Type.Optional(Type.String({ maxLength: 16 })),
  signature: Type.Optional(Type.String({ maxLength: 128 })),
});

/**
 * `PUT /uploads/{job_id}/{slot}[/{part}]?expires=…&signature=…`, `GET /downloads/{job_id}/{slot}?…` and
 * `GET /downloads/{job_id}/verify/{name}?…`: the presigned upload and download URLs of job files and of
 * the images of their verify reports, served by Doppel itself. The signature is the credential. The body streams
 * straight into the blob store (never whole in memory). Answers like S3: 200 with the MD5 `ETag`.
 * Downloads (and HEAD of them) answer with ranges and validators through `serveDownload`.
 */
export async function uploadRoutes(app: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const { ctx } = opts;
  // Leave the body unread: the handler streams it. Any content type is accepted; the bytes decide.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));

  // The signature covers the method and exact path: checked before anything else looks at the request.
  // A HEAD is checked as a GET (UrlSigner.verify).
  const checkSignature = (request: FastifyRequest, method: string) => {
    const query = request.query as { expires?: string; signature?: string };
    const rawPath = (request.raw.url ?? "").split("?")[0] ?? "";
    ctx.urls.verify(method, rawPath, query.expires, query.signature, ctx.now());
  };
  const signedFor = (method: "PUT") => async (request: FastifyRequest) => checkSignature(request, method);

  // HEAD is registered with GET (not left to Fastify, which would run the GET and read the whole body
  // away): serveDownload answers it with the headers alone. It goes through the same signature check.
  app.route({
    method: ["GET", "HEAD"],
    url: "/downloads/:job_id/:slot",
    preValidation: async (request) => checkSignature(request, request.method),
    schema: { params: Type.Omit(UploadParams, ["part"]), querystring: UploadQuery },
    handler: async (request, reply) => {
      const params = request.params as { job_id: string; slot: FileSlot };
      return serveDownload(request, reply, await jobFileDownload(ctx, params.job_id, params.slot));
    },
  });

  // The images of a job's verify report (sampled frames, the consent video's face), by the name the
  // report lists: the static `verify` segment keeps them apart from `/downloads/:job_id/:slot`.
  app.route({
    method: ["GET", "HEAD"],
    url: "/downloads/:job_id/verify/:name",
    preValidation: async (request) => checkSignature(request, request.method),
    schema: {
      params: Type.Object({ job_id: Type.String({ maxLength: 64 }), name: Type.String({ maxLength: 128 }) }),
      querystring: UploadQuery,
    },
    handler: async (request, reply) => {
      const params = request.params as { job_id: string; name: string };
      return serveDownload(request, reply, await verifyImageDownload(ctx, params.job_id, params.name));
    },
  });

  // Media files of ICE's CreateUploadMedia: the static `media` segment wins over `:job_id`.
  app.put(
    "/uploads/media/:media_id",
    {
      preValidation: signedFor("PUT"),
      schema: { params: Type.Object({ media_id: Type.String({ maxLength: 64 }) }), querystring: UploadQuery },
    },
    async (request, reply) => {
      const stored = await receiveMediaUpload(
        ctx,
        (request.params as { media_id: string }).media_id,
        detachedBody(request.raw),
      );
      return reply.status(200).header("ETag", `"${stored.etag}"`).send("");
    },
  );

  for (const path of ["/uploads/:job_id/:slot", "/uploads/:job_id/:slot/:part"]) {
    app.put(
      path,
      {
        preValidation: async (request) => {
          checkSignature(request, "PUT");
          request.params = strictIntegers(
            UploadParams,
            request.params as Record<string, unknown>,
          ) as typeof request.params;
        },
        schema: { params: UploadParams, querystring: UploadQuery },
      },
      async (request, reply) => {
        const params = request.params as { job_id: string; slot: FileSlot; part?: number };
        const stored = await receiveUpload(
          ctx,
          { jobId: params.job_id, slot: params.slot, part: params.part },
          detachedBody(request.raw),
        );
        return reply.status(200).header("ETag", `"${stored.etag}"`).send("");
      },
    );
  }
}
