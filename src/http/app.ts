import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from "fastify";
import type { ServiceContext } from "../services/context.js";
import { adminRoutes } from "./admin/routes.js";
import { assetDownloadRoutes } from "./assets/download-routes.js";
import { blobStoreOrigins, consoleRoutes } from "./console/routes.js";
import { sendInDialect } from "./dialects/dialect.js";
import { iceRoutes } from "./dialects/ice/routes.js";
import { metaStudioRoutes } from "./dialects/metastudio/routes.js";
import { healthRoutes } from "./health/routes.js";
import { catalogRoutes } from "./openapi/route-catalog.js";
import { openApiRoutes } from "./openapi/routes.js";
import { answerClientError } from "./plugins/client-errors.js";
import { limitConnections, serverOptions } from "./plugins/connection-limits.js";
import { answerUnroutedRequests } from "./plugins/not-found.js";
import { captureRawBodies } from "./plugins/raw-body.js";
import { settleUnreadBodies } from "./plugins/unread-bodies.js";
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
    http: serverOptions(ctx.config),
    ajv: {
      customOptions: { coerceTypes: "array", removeAdditional: true, useDefaults: true, allErrors: false },
    },
  });
  // Before any route: the OpenAPI documents are generated from every route's schemas.
  const routes = catalogRoutes(app);
  // Before any route plugin: plugins take their parent's error handler when they are registered.
  app.setErrorHandler((error, request, reply) => sendInDialect(request, reply, error));
  limitConnections(app, ctx.config);
  settleUnreadBodies(app);
  captureRawBodies(app, options.bodyLimit ?? 1024 * 1024);
  useValidators(app);

  // MetaStudio promises X-Request-Id on every response; ICE repeats the same id in its body.
  app.addHook("onRequest", async (request, reply) => {
    reply.header("X-Request-Id", request.id.replaceAll("-", ""));
  });

  await app.register(healthRoutes, { ctx });
  await app.register(metaStudioRoutes, { ctx });
  await app.register(iceRoutes, { ctx });
  await app.register(uploadRoutes, { ctx });
  await app.register(assetDownloadRoutes, { ctx });
  await app.register(adminRoutes, { ctx });
  await app.register(workerApiRoutes, { ctx });
  await app.register(openApiRoutes, { routes });
  await app.register(consoleRoutes, { fileOrigins: blobStoreOrigins(ctx.config.blobStore) });

  answerUnroutedRequests(app);
  return app;
}
