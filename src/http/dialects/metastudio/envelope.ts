import type { FastifyReply, FastifyRequest } from "fastify";
import type { DoppelError } from "../../../domain/errors.js";
import { METASTUDIO_ERRORS } from "./errors.js";

/** MetaStudio's error envelope `{error_code, error_msg}` and its status, for a catalog error. */
export function metaStudioError(error: DoppelError): {
  status: number;
  body: { error_code: string; error_msg: string };
} {
  const { status, code } = METASTUDIO_ERRORS[error.code];
  return { status, body: { error_code: code, error_msg: error.message } };
}

/** Sends a catalog error in MetaStudio's envelope. */
export function sendMetaStudioError(
  _request: FastifyRequest,
  reply: FastifyReply,
  error: DoppelError,
): FastifyReply {
  const { status, body } = metaStudioError(error);
  return reply.status(status).send(body);
}
