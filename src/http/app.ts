import { randomUUID } from "node:crypto";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import { sql } from "kysely";
import { DoppelError } from "../domain/errors.js";
import type { ServiceContext } from "../services/context.js";
import { adminRoutes } from "./admin/routes.js";
import { iceRoutes, sendIceError } from "./dialects/ice/routes.js";
import { metaStudioRoutes, sendMetaStudioError } from "./dialects/metastudio/routes.js";
import { answerClientError } from "./plugins/client-errors.js";
import { captureRawBodies } from "./plugins/raw-body.js";
import { useValidators } from "./plugins/validators.js";
import { uploadRoutes } from "./uploads/routes.js";
import { workerApiRoutes } from "./worker-api/routes.js";

export interface AppOptions {
  readonly logger?: FastifyServerOptions["logger"];
  /** Largest request body accepted by API routes, in bytes. */
  readonly bodyLimit?: number;
}

/** Builds the HTTP app without listening: tests use `inject()` or `listen({port: 0})`. */
export async function buildApp(ctx: ServiceContext, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // Client-sent request ids are not trusted: every response's id is one this server made.
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Per-request access logs would double the cost of a list call; errors are logged where handled.
    logController: new LogController({ disableRequestLogging: true }),
    // Odd query strings must never crash parsing; Fastify's default parser is lenient already.
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: true },
    // Malformed URLs and over-long path segments fail before routing; answer them in the dialect too.
    frameworkErrors: (error, request, reply) => sendInDialect(request, reply, error),
    clientErrorHandler: answerClientError,
    ajv: {
      customOptions: { coerceTypes: "array", removeAdditional: true, useDefaults: true, allErrors: false },
    },
  });
  captureRawBodies(app, options.bodyLimit ?? 1024 * 1024);
  useValidators(app);

  // MetaStudio promises X-Request-Id on every response; ICE repeats the same id in its body.
  app.addHook("onRequest", async (request, reply) => {
    reply.header("X-Request-Id", request.id.replaceAll("-", ""));
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    try {
      await sql`select 1`.execute(ctx.database.db);
      return { status: "ready", database: ctx.database.kind };
    } catch {
      return reply.status(503).send({ status: "unavailable", database: ctx.database.kind });
    }
  });

  await app.register(metaStudioRoutes, { ctx });
  await app.register(iceRoutes, { ctx });
  await app.register(uploadRoutes, { ctx });
  await app.register(adminRoutes, { ctx });
  await app.register(workerApiRoutes, { ctx });

  app.setNotFoundHandler((request, reply) => {
    const path = (request.raw.url ?? "/").split("?")[0] ?? "/";
    const known = app.findRoute({ method: "GET", url: path }) ?? app.findRoute({ method: "POST", url: path });
    const error = known
      ? new DoppelError("METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path.slice(0, 200)}`)
      : new DoppelError("API_NOT_FOUND", `No API at ${request.method} ${path.slice(0, 200)}`);
    return /^\/(v1|admin|worker)\//.test(path)
      ? sendMetaStudioError(request, reply, error)
      : sendIceError(request, reply, error);
  });
  app.setErrorHandler((error, request, reply) => sendInDialect(request, reply, error));
  return app;
}

/** Errors outside both dialects' routes: MetaStudio's envelope under /v1/ (and Doppel's own paths), Alibaba's elsewhere. */
function sendInDialect(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const metaStudio = /^\/(v1|uploads|downloads|admin|worker)\//.test(request.url);
  return (metaStudio ? sendMetaStudioError : sendIceError)(request, reply, error);
}
