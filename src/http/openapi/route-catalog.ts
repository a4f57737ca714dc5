import type { FastifyInstance, FastifySchema } from "fastify";

declare module "fastify" {
  /**
   * What a route says about itself for the OpenAPI documents besides its validation schemas. The
   * first four are @fastify/swagger's keys; Fastify ignores them all (it compiles only body,
   * querystring, params, headers and response).
   */
  interface FastifySchema {
    operationId?: string;
    summary?: string;
    description?: string;
    tags?: readonly string[];
    /**
     * OpenAPI-only parts merged into the generated operation (objects merged, arrays appended): what
     * the handler reads or writes by itself and so has no validation schema — headers, streamed
     * bodies, a route without credentials (`security: []`).
     */
    openapi?: Record<string, unknown>;
  }
}

/** One registered route as the OpenAPI documents see it. */
export interface CatalogedRoute {
  readonly method: string;
  /** Fastify's pattern, e.g. `/v1/:project_id/digital-human-training-manage/user/jobs`. */
  readonly url: string;
  readonly schema: FastifySchema | undefined;
}

/**
 * Records every route registered on `app` from now on (children included). Call it before the route
 * plugins are registered; the list fills as they are. The HEAD routes Fastify adds beside each GET
 * are left out: a document describes the GET.
 */
export function catalogRoutes(app: FastifyInstance): readonly CatalogedRoute[] {
  const routes: CatalogedRoute[] = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      if (method !== "HEAD") routes.push({ method, url: route.url, schema: route.schema });
    }
  });
  return routes;
}
