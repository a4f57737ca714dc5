import type { FastifyRequest } from "fastify";

/** Where this request reached Doppel, for absolute URLs that point back at it (signed download URLs). */
export function originOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}
