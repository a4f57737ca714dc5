import { type DocumentDefinition, openApiDocument } from "./document-shell.js";
import { iceDocument } from "./ice-document.js";
import type { JsonObject } from "./json-schema.js";
import { openApiPath, operationOf } from "./operation.js";
import type { CatalogedRoute } from "./route-catalog.js";

/** The four documents, by the name they are served and committed under (`/openapi/<name>.json`). */
export const DOCUMENT_NAMES = ["metastudio", "ice", "admin", "worker"] as const;
export type DocumentName = (typeof DOCUMENT_NAMES)[number];

/** Routes that are in no document: file bytes by signed URL, and the reference itself. */
const UNDOCUMENTED = /^\/(uploads|downloads|openapi|docs|console)(\/|$)/;

/**
 * Which document describes a route: by path, as the envelope rule (dialects/dialect.ts) goes. `/` is
 * ICE's RPC endpoint, described action by action from the action table rather than from its route.
 */
export function documentOf(url: string): DocumentName | undefined {
  if (url === "/") return "ice";
  if (url.startsWith("/v1/")) return "metastudio";
  if (url.startsWith("/admin/") || url === "/healthz" || url === "/readyz") return "admin";
  if (url.startsWith("/worker/")) return "worker";
  if (UNDOCUMENTED.test(url)) return undefined;
  throw new Error(`Route ${url} belongs to no OpenAPI document: add it to documentOf`);
}

const OPERATOR_TOKEN = {
  type: "http",
  scheme: "bearer",
  description: "An operator token from `doppel admin-token create --name <who>`; project credentials get 403",
};

const METASTUDIO: DocumentDefinition = {
  info: {
    title: "Doppel: Huawei Cloud MetaStudio training jobs",
    version: "v1",
    description:
      "MetaStudio's digital-human training-job API as Doppel answers it: Huawei's paths, fields and " +
      "error envelope (`{error_code, error_msg}`), so Huawei's SDKs work unchanged. Authenticate with " +
      "an `X-Auth-Token` or sign like Huawei's SDK. Upload and download URLs in the answers are " +
      "signed and need no credentials.",
  },
  tags: [{ name: "Training jobs", description: "2D digital-human model training jobs" }],
  securitySchemes: {
    XAuthToken: {
      type: "apiKey",
      in: "header",
      name: "X-Auth-Token",
      description: "A project token from `doppel token create --project <id>`",
    },
    SdkHmacSha256: {
      type: "apiKey",
      in: "header",
      name: "Authorization",
      description:
        "`SDK-HMAC-SHA256 Access=<key id>, SignedHeaders=…, Signature=…` with `X-Sdk-Date`, as " +
        "Huawei's SDK signs; an access key from `doppel key create --project <id>`",
    },
  },
  parameters: {
    "X-Project-Id": {
      name: "X-Project-Id",
      in: "header",
      required: false,
      description: "When sent, must be the credential's project",
      schema: { type: "string" },
    },
    "X-App-UserId": {
      name: "X-App-UserId",
      in: "header",
      required: false,
      description: "Your application's user (1–128 printable ASCII characters without spaces)",
      schema: { type: "string" },
    },
    "X-Client-Token": {
      name: "X-Client-Token",
      in: "header",
      required: false,
      description:
        "Makes the create idempotent: the same token answers with the job it created (409 once that job is deleted)",
      schema: { type: "string" },
    },
  },
  everyOperation: ["X-Project-Id", "X-App-UserId"],
};

const ADMIN: DocumentDefinition = {
  info: {
    title: "Doppel admin API",
    version: "v1",
    description:
      "Doppel's own API for operators: the manual review queue and the pipeline's live tasks, plus the " +
      "health checks. Errors are MetaStudio's `{error_code, error_msg}`.",
  },
  tags: [
    { name: "Review", description: "Jobs waiting for an operator's decision (MANUAL_VERIFYING)" },
    { name: "Pipeline", description: "The durable task queue behind the training pipeline" },
    { name: "Health", description: "For load balancers; no credentials" },
  ],
  securitySchemes: { OperatorToken: OPERATOR_TOKEN },
};

const WORKER: DocumentDefinition = {
  info: {
    title: "Doppel worker protocol",
    version: "v1",
    description:
      "How a trainer in any language takes training tasks over HTTP: claim a task under a lease, keep " +
      "it with heartbeats, download its inputs and upload the package by the signed URLs the claim " +
      "hands out, then complete or fail it. Errors are MetaStudio's `{error_code, error_msg}`.",
  },
  tags: [
    { name: "Tasks", description: "Claims, leases and outcomes; operator token" },
    { name: "Files", description: "Inputs and outputs by the claim's signed URLs; no other credential" },
  ],
  securitySchemes: { OperatorToken: OPERATOR_TOKEN },
};

const ROUTE_DOCUMENTS: Record<Exclude<DocumentName, "ice">, DocumentDefinition> = {
  metastudio: METASTUDIO,
  admin: ADMIN,
  worker: WORKER,
};

/** The four OpenAPI 3.1 documents of an app whose routes `routes` lists. */
export function buildOpenApiDocuments(routes: readonly CatalogedRoute[]): Record<DocumentName, JsonObject> {
  return {
    metastudio: routeDocument(METASTUDIO, routes, "metastudio"),
    ice: iceDocument(),
    admin: routeDocument(ADMIN, routes, "admin"),
    worker: routeDocument(WORKER, routes, "worker"),
  };
}

function routeDocument(
  definition: DocumentDefinition,
  routes: readonly CatalogedRoute[],
  name: keyof typeof ROUTE_DOCUMENTS,
): JsonObject {
  const schemas: Record<string, JsonObject> = {};
  const paths: Record<string, JsonObject> = {};
  const common = (definition.everyOperation ?? []).map((key) => ({
    $ref: `#/components/parameters/${key}`,
  }));
  for (const route of routes) {
    if (documentOf(route.url) !== name) continue;
    const operation = operationOf(route, schemas);
    if (common.length > 0)
      operation.parameters = [...((operation.parameters as JsonObject[]) ?? []), ...common];
    const path = openApiPath(route.url);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation };
  }
  return openApiDocument(definition, paths, schemas);
}
