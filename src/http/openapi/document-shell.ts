import type { JsonObject } from "./json-schema.js";
import { REQUEST_ID_COMPONENT, shareErrorResponses } from "./operation.js";

/** What a document says about itself besides its operations. */
export interface DocumentDefinition {
  readonly info: JsonObject;
  readonly tags: JsonObject[];
  /** Any one of them authenticates a call (operations without credentials say `security: []`). */
  readonly securitySchemes: JsonObject;
  /** Parameters of several operations (`components.parameters`), by name. */
  readonly parameters?: Record<string, JsonObject>;
  /** Those of `parameters` that every operation takes. */
  readonly everyOperation?: readonly string[];
  /** The X-Request-Id header as this API describes it. */
  readonly requestIdHeader?: JsonObject;
}

/**
 * An OpenAPI 3.1 document of `paths`: the definition's info, tags and security, the named schemas in
 * name order (so the text does not depend on which route named one first), and the error responses
 * every operation shares described once.
 */
export function openApiDocument(
  definition: DocumentDefinition,
  paths: Record<string, JsonObject>,
  schemas: Record<string, JsonObject>,
): JsonObject {
  const components: JsonObject = {
    schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    responses: shareErrorResponses(paths),
    headers: { "X-Request-Id": definition.requestIdHeader ?? REQUEST_ID_COMPONENT },
    securitySchemes: definition.securitySchemes,
  };
  if (definition.parameters !== undefined) components.parameters = definition.parameters;
  return {
    openapi: "3.1.0",
    info: definition.info,
    tags: definition.tags,
    security: Object.keys(definition.securitySchemes).map((scheme) => ({ [scheme]: [] })),
    paths,
    components,
  };
}
