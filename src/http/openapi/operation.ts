import {
  closeObjects,
  hoistTitled,
  type Json,
  type JsonObject,
  mergeJson,
  plainSchema,
} from "./json-schema.js";
import type { CatalogedRoute } from "./route-catalog.js";

/** Fastify's `:name` becomes OpenAPI's `{name}`; its one wildcard (`*`, slashes allowed) is `{path}`. */
export function openApiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{path}");
}

/** The response key OpenAPI uses for a Fastify response key: `4xx` is `4XX`. */
export function responseKey(key: string): string {
  return /^[1-5]xx$/i.test(key) ? key.toUpperCase() : key;
}

const DEFAULT_DESCRIPTIONS: Record<string, string> = {
  "2": "Success",
  "4": "Refused: the error says why (README, Errors)",
  "5": "Doppel failed; the error names no cause (it is logged)",
};

/** Every Doppel response carries the request's id. */
export const REQUEST_ID_HEADER: JsonObject = { $ref: "#/components/headers/X-Request-Id" };
export const REQUEST_ID_COMPONENT: JsonObject = {
  description: "This request's id (32 hex digits), to quote when asking about it",
  schema: { type: "string" },
};

/**
 * One route as an OpenAPI operation: its parameters and body from the validation schemas, its
 * responses from the response schemas (objects closed: the document names every field Doppel sends),
 * named subschemas moved into `schemas`, then the route's OpenAPI-only additions merged in.
 */
export function operationOf(route: CatalogedRoute, schemas: Record<string, JsonObject>): JsonObject {
  const schema = route.schema ?? {};
  const operation: JsonObject = {};
  if (schema.operationId !== undefined) operation.operationId = schema.operationId;
  if (schema.summary !== undefined) operation.summary = schema.summary;
  if (schema.description !== undefined) operation.description = schema.description;
  if (schema.tags !== undefined) operation.tags = [...schema.tags];

  const parameters = [
    ...parametersOf(schema.params, "path", schemas),
    ...parametersOf(schema.querystring, "query", schemas),
    ...parametersOf(schema.headers, "header", schemas),
  ];
  if (parameters.length > 0) operation.parameters = parameters;
  if (schema.body !== undefined) {
    operation.requestBody = {
      required: true,
      content: { "application/json": { schema: hoistTitled(plainSchema(schema.body), schemas) } },
    };
  }
  const responses: JsonObject = {};
  for (const [key, body] of Object.entries((schema.response ?? {}) as Record<string, unknown>)) {
    responses[responseKey(key)] = responseOf(key, plainSchema(body), schemas);
  }
  operation.responses = responses;
  const extra = schema.openapi === undefined ? {} : (plainSchema(schema.openapi) as JsonObject);
  const merged = mergeJson(operation, extra);
  merged.responses = withRequestIds(merged.responses as JsonObject);
  return merged;
}

/** Responses in status order (200 before 4XX), each with the X-Request-Id header. */
export function withRequestIds(responses: JsonObject): JsonObject {
  const order = (key: string) => key.replace(/X/g, "9").padEnd(3, "9");
  const sorted = Object.keys(responses).sort((a, b) => order(a).localeCompare(order(b)));
  return Object.fromEntries(
    sorted.map((key) => {
      const response = responses[key] as JsonObject;
      const headers = { "X-Request-Id": REQUEST_ID_HEADER, ...(response.headers as JsonObject | undefined) };
      return [key, { ...response, headers }];
    }),
  );
}

/** A response: `type: "null"` (as in @fastify/swagger) is a response without a body. */
function responseOf(key: string, body: JsonObject, schemas: Record<string, JsonObject>): JsonObject {
  const description =
    typeof body.description === "string"
      ? body.description
      : (DEFAULT_DESCRIPTIONS[key[0] ?? ""] ?? "Answer");
  if (body.type === "null") return { description };
  return {
    description,
    content: { "application/json": { schema: hoistTitled(closeObjects(body), schemas) } },
  };
}

/** The properties of an object schema as OpenAPI parameters (a default makes one optional). */
function parametersOf(
  source: unknown,
  where: "path" | "query" | "header",
  schemas: Record<string, JsonObject>,
): Json[] {
  if (source === undefined) return [];
  const object = plainSchema(source);
  const required = new Set((object.required as string[] | undefined) ?? []);
  return Object.entries((object.properties ?? {}) as Record<string, JsonObject>).map(([name, property]) => {
    const { description, ...rest } = property;
    const parameter: JsonObject = {
      name: where === "path" && name === "*" ? "path" : name,
      in: where,
      required: where === "path" || (required.has(name) && rest.default === undefined),
    };
    if (description !== undefined) parameter.description = description;
    parameter.schema = hoistTitled(rest, schemas);
    return parameter;
  });
}

const SHARED_RESPONSES: Record<string, string> = { "4XX": "ClientError", "5XX": "ServerError" };

/**
 * The error responses every operation repeats, described once under `components.responses` and
 * referred to: the first operation's 4XX and 5XX become the shared ones, and every operation whose
 * error response is the same refers to it (one that differs keeps its own).
 */
export function shareErrorResponses(paths: Record<string, JsonObject>): JsonObject {
  const shared: JsonObject = {};
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item) as JsonObject[]) {
      const responses = operation.responses as JsonObject;
      for (const [key, name] of Object.entries(SHARED_RESPONSES)) {
        const response = responses[key];
        if (response === undefined) continue;
        shared[name] ??= response;
        if (JSON.stringify(shared[name]) === JSON.stringify(response)) {
          responses[key] = { $ref: `#/components/responses/${name}` };
        }
      }
    }
  }
  return shared;
}
