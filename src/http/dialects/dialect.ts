import type { FastifyReply, FastifyRequest } from "fastify";
import { toDoppelError } from "../plugins/fastify-errors.js";
import { sendIceError } from "./ice/envelope.js";
import { sendMetaStudioError } from "./metastudio/envelope.js";

/** The two error envelopes Doppel answers in. */
export type Dialect = "metastudio" | "ice";

/** Doppel's own paths: MetaStudio's API and everything Doppel adds beside it. */
const METASTUDIO_PATH = /^\/(v1|uploads|downloads|admin|worker|openapi|docs|console)(\/|\?|$)/;

/**
 * The one rule for which envelope a response uses, decided by the path alone so that a 404, a 405, a
 * signature error and a route's own error on the same path always look alike: Doppel's own paths
 * (/v1, /uploads, /downloads, /admin, /worker, and the API reference's /openapi and /docs) speak
 * MetaStudio's `{error_code, error_msg}`; `/` (ICE's RPC endpoint) and anything else speak Alibaba's.
 */
export function dialectOf(url: string): Dialect {
  return METASTUDIO_PATH.test(url) ? "metastudio" : "ice";
}

/** Sends any error in the envelope of the request's path; 5xx are logged with their cause, never shown. */
export function sendInDialect(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const doppel = toDoppelError(error);
  if (doppel.code === "INTERNAL") request.log.error({ err: error }, "request failed");
  const send = dialectOf(request.url) === "metastudio" ? sendMetaStudioError : sendIceError;
  return send(request, reply, doppel);
}
