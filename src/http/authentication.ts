import type { FastifyRequest } from "fastify";
import type { Principal } from "../auth/signed-request.js";
import {
  authenticateHead,
  type HeadAuthentication,
  type SchemeFamily,
} from "../services/authenticate.service.js";
import type { ServiceContext } from "../services/context.js";
import { signedRequestOf } from "./plugins/raw-body.js";

declare module "fastify" {
  interface FastifyRequest {
    /** What `startAuthentication` learnt from the head; `finishAuthentication` completes it. */
    headAuthentication?: HeadAuthentication;
  }
}

/**
 * Authentication in two steps around the body. Fastify reads and parses the whole body before
 * `preValidation`, so authenticating there let any unauthenticated client make the server read one.
 * `startAuthentication` runs in `onRequest`, before a byte of the body is read, and refuses whatever
 * the head alone shows to be unauthenticated; `finishAuthentication` completes what needs the body.
 * (An answer given before the body was read is settled by the unread-bodies plugin.)
 */

/** Whether a body follows the head: Node reads one only after a non-zero Content-Length or Transfer-Encoding. */
export function bodyPending(request: FastifyRequest): boolean {
  const length = request.headers["content-length"];
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** An `onRequest` hook that authenticates a dialect's requests as far as their head allows. */
export function startAuthentication(ctx: ServiceContext, family: SchemeFamily) {
  return async (request: FastifyRequest): Promise<void> => {
    request.headAuthentication = await authenticateHead(
      ctx,
      family,
      signedRequestOf(request),
      bodyPending(request),
    );
  };
}

/** Completes the authentication `startAuthentication` began, once the body has been read. */
export function finishAuthentication(request: FastifyRequest): Promise<Principal> {
  const started = request.headAuthentication;
  if (started === undefined) throw new Error("route reached without startAuthentication");
  return started.finish(signedRequestOf(request));
}
