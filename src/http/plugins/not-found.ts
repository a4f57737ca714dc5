import type { FastifyInstance } from "fastify";
import { DoppelError } from "../../domain/errors.js";
import { sendInDialect } from "../dialects/dialect.js";

/** Every method a Doppel route could be registered with (HEAD comes with each GET). */
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;

/**
 * Requests no route takes: 405 with `Allow` when the path exists under other methods (RFC 9110
 * §15.5.6 requires the header), otherwise 404; both in the path's envelope.
 */
export function answerUnroutedRequests(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    const path = (request.raw.url ?? "/").split("?")[0] ?? "/";
    const allowed = METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
    const shown = path.slice(0, 200);
    if (allowed.length === 0) {
      return sendInDialect(
        request,
        reply,
        new DoppelError("API_NOT_FOUND", `No API at ${request.method} ${shown}`),
      );
    }
    reply.header("Allow", allowed.join(", "));
    return sendInDialect(
      request,
      reply,
      new DoppelError(
        "METHOD_NOT_ALLOWED",
        `${request.method} is not allowed on ${shown}; use ${allowed.join(", ")}`,
      ),
    );
  });
}
