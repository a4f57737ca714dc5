import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { sql } from "kysely";
import type { ServiceContext } from "../../services/context.js";

const Database = Type.String({ description: "The database engine: sqlite or postgres" });

/**
 * `/healthz` (the process answers) and `/readyz` (and its database does), for load balancers and
 * orchestrators. No credentials: they tell nothing but that.
 */
export async function healthRoutes(parent: FastifyInstance, opts: { ctx: ServiceContext }): Promise<void> {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();
  const { ctx } = opts;
  const tags = ["Health"];

  app.get(
    "/healthz",
    {
      schema: {
        operationId: "Healthz",
        summary: "The process is up",
        tags,
        response: { 200: Type.Object({ status: Type.Literal("ok") }) },
        openapi: { security: [] },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        operationId: "Readyz",
        summary: "The process is up and reaches its database",
        tags,
        response: {
          200: Type.Object({ status: Type.Literal("ready"), database: Database }),
          503: Type.Object({ status: Type.Literal("unavailable"), database: Database }),
        },
        openapi: { security: [] },
      },
    },
    async (_request, reply) => {
      try {
        await sql`select 1`.execute(ctx.database.db);
        return { status: "ready" as const, database: ctx.database.kind };
      } catch {
        return reply.status(503).send({ status: "unavailable", database: ctx.database.kind });
      }
    },
  );
}
