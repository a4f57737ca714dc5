import type { FastifyReply, FastifyRequest } from "fastify";
import type { DoppelError } from "../../../domain/errors.js";
import { ICE_ERRORS } from "./errors.js";

/** Alibaba request ids are upper-case UUIDs; `X-Request-Id` carries the same id. */
export function iceRequestId(request: FastifyRequest): string {
  return request.id.toUpperCase();
}

/** Alibaba's error envelope and the status Alibaba's gateway uses, for a catalog error. */
export function iceError(
  error: DoppelError,
  requestId: string,
  hostId: string,
): {
  status: number;
  body: { RequestId: string; HostId: string; Code: string; Message: string; Recommend: string };
} {
  const { status, code } = ICE_ERRORS[error.code];
  return {
    status,
    body: {
      RequestId: requestId,
      HostId: hostId || "doppel",
      Code: code,
      Message: error.message,
      Recommend: "See the Errors section of Doppel's README",
    },
  };
}

/** Sends a catalog error in Alibaba's envelope. */
export function sendIceError(request: FastifyRequest, reply: FastifyReply, error: DoppelError): FastifyReply {
  const { status, body } = iceError(error, iceRequestId(request), request.hostname);
  return reply.status(status).send(body);
}
