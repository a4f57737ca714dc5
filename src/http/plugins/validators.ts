import { Ajv } from "ajv";
import type { FastifyInstance } from "fastify";

/**
 * Two validators. Query strings, path parameters and headers are text, so their values are coerced
 * to the schema's types (`limit=10` → 10; a repeated parameter → an array, then refused). JSON bodies
 * already carry types, so they are checked as sent: a client that sends `"tags": "news"` gets an
 * error, not a silently wrapped `["news"]`.
 */
export function useValidators(app: FastifyInstance): void {
  const common = { removeAdditional: true, useDefaults: true, allErrors: false, strict: false } as const;
  const coercing = new Ajv({ ...common, coerceTypes: "array" });
  const exact = new Ajv({ ...common, coerceTypes: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === "body" ? exact : coercing).compile(schema),
  );
}
