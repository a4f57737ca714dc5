import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Caller } from "../../../services/caller.js";
import type { ServiceContext } from "../../../services/context.js";
import { showVerification } from "../../../services/verification.service.js";
import { originOf } from "../../origin.js";
import { ErrorSchema } from "../../schemas/error-body.js";
import type { VerifyReportBody } from "../../schemas/verify-report.js";
import { JobParamsSchema, JobVerificationResponseSchema } from "./schemas.js";

export const VERIFICATION_PATH = "/v1/:project_id/doppel/jobs/:job_id/verification";

const TAG = "Training jobs (Doppel)";

/**
 * Doppel's view of a job's automatic checks beside MetaStudio's paths (MetaStudio shows none): the
 * verify report with the sampled frames, their faces and the consent video's face, each with a signed
 * download URL. Registered inside the MetaStudio plugin, so it shares its authentication (an
 * X-App-UserId caller sees only its own jobs) and error envelope.
 */
export function verificationRoutes(
  parent: FastifyInstance,
  ctx: ServiceContext,
  callerOf: (request: FastifyRequest) => Caller,
): void {
  parent.withTypeProvider<TypeBoxTypeProvider>().get(
    VERIFICATION_PATH,
    {
      schema: {
        operationId: "ShowJobVerification",
        summary: "What the automatic checks saw of a job",
        description:
          "The verify report: the sampled frames of the training video with their face boxes, the consent video's face and the problems found, each image with a signed download URL valid 24 hours. `verify_report` is null until the job has been verified.",
        tags: [TAG],
        params: JobParamsSchema,
        response: { 200: JobVerificationResponseSchema, "4xx": ErrorSchema, "5xx": ErrorSchema },
      },
    },
    async (request) => {
      const report = await showVerification(ctx, callerOf(request), request.params.job_id, originOf(request));
      // The verify stage wrote the report; the response schema holds it to VerifyReport on the way out.
      return { verify_report: report as VerifyReportBody | null };
    },
  );
}
