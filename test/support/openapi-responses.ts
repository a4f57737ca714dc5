/**
 * Holds every response a test server sends to the committed OpenAPI documents (docs/openapi/), so
 * that they cannot lie: each JSON body is validated against the operation's documented response for
 * its status — every field named (the documents close their response objects), every type right — a
 * documented empty body must be empty, and the Content-Type must be a documented one. A request no
 * route took, or an ICE call naming no action Doppel has, must still get the error envelope of its
 * path's dialect. Routes in no document (uploads, downloads, the reference itself) are not checked.
 *
 * `checkResponsesAgainstOpenApi(app)` (test/support/server.ts calls it for every test server) records
 * what does not match; under Vitest the test during which it was sent then fails, naming each one.
 */
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import type { ErrorObject, ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { dialectOf } from "../../src/http/dialects/dialect.js";
import { DOCUMENT_NAMES, type DocumentName, documentOf } from "../../src/http/openapi/documents.js";
import { actionPath } from "../../src/http/openapi/ice-document.js";
import { openApiPath } from "../../src/http/openapi/operation.js";

type JsonObject = Record<string, unknown>;

/** A response that differs from its documentation. */
export interface ResponseViolation {
  readonly request: string;
  readonly status: number;
  readonly problem: string;
}

const violations: ResponseViolation[] = [];
const covered = new Set<string>();

/**
 * `<document> <operationId> <response key>` of every documented response a test server sent and the
 * document described correctly (the caller may clear it).
 */
export function coveredResponses(): Set<string> {
  return covered;
}

/** Violations recorded since the last call, which clears them. */
export function takeResponseViolations(): ResponseViolation[] {
  return violations.splice(0);
}

/**
 * Checks every response `app` sends from now on (call it before the app is ready). The body is taken
 * in onSend and checked in onResponse, once it is on its way: both hooks are synchronous callbacks,
 * so the check adds no await between a route's answer and its sending (the hardening suites race
 * answers against uploads still arriving, and an extra tick there changes what they exercise).
 */
export function checkResponsesAgainstOpenApi(app: FastifyInstance): void {
  const sent = new WeakMap<FastifyRequest, unknown>();
  app.addHook("onSend", (request, _reply, payload, done) => {
    sent.set(request, payload);
    done(null, payload);
  });
  app.addHook("onResponse", (request, reply, done) => {
    if (sent.has(request)) record(request, reply, sent.get(request));
    done();
  });
}

function record(request: FastifyRequest, reply: FastifyReply, payload: unknown): void {
  let problem: string | undefined;
  try {
    problem = checkResponse(request, reply, payload);
  } catch (error) {
    // A fault of the checker is reported like a mismatch, never allowed to change the response.
    problem = `the check itself failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (problem !== undefined) {
    violations.push({
      request: `${request.method} ${request.url.slice(0, 200)}`,
      status: reply.statusCode,
      problem,
    });
  }
}

/** The failure message for violations, or undefined when there are none. */
export function describeViolations(found: readonly ResponseViolation[]): string | undefined {
  if (found.length === 0) return undefined;
  const lines = found.slice(0, 20).map((v) => `- ${v.request} → ${v.status}: ${v.problem}`);
  if (found.length > 20) lines.push(`… and ${found.length - 20} more`);
  return `${found.length} response(s) differ from docs/openapi (fix the response or its route schema, then npm run openapi):\n${lines.join("\n")}`;
}

// Under Vitest, fail the test during which a bad response was sent (and the file, for any sent by its
// afterAll hooks). Other callers (scripts/fuzz.ts) import this module outside Vitest: no hooks there.
if (process.env.VITEST) {
  const { afterAll, afterEach } = await import("vitest");
  const fail = () => {
    const message = describeViolations(takeResponseViolations());
    if (message !== undefined) throw new Error(message);
  };
  afterEach(fail);
  afterAll(fail);
}

let loaded: Record<DocumentName, JsonObject> | undefined;

/** The committed documents: what users read is what the responses are held to. */
export function committedDocuments(): Record<DocumentName, JsonObject> {
  loaded ??= Object.fromEntries(
    DOCUMENT_NAMES.map((name) => [
      name,
      JSON.parse(readFileSync(new URL(`../../docs/openapi/${name}.json`, import.meta.url), "utf8")),
    ]),
  ) as Record<DocumentName, JsonObject>;
  return loaded;
}

function checkResponse(request: FastifyRequest, reply: FastifyReply, payload: unknown): string | undefined {
  if (request.method === "HEAD") return undefined;
  const documents = committedDocuments();
  const status = reply.statusCode;
  const route = request.routeOptions.url;
  const name = route === undefined ? undefined : documentOf(route);
  let document: JsonObject | undefined;
  let operation: JsonObject | undefined;
  if (name !== undefined && route !== undefined) {
    document = documents[name];
    const paths = document.paths as Record<string, Record<string, JsonObject>>;
    if (route === "/") {
      const action = iceAction(request);
      operation = action === undefined ? undefined : paths[actionPath(action)]?.post;
    } else {
      operation = paths[openApiPath(route)]?.[request.method.toLowerCase()];
      if (operation === undefined) return `${request.method} ${route} is not in ${name}.json`;
    }
  }
  if (document !== undefined && operation !== undefined) {
    const responses = operation.responses as Record<string, JsonObject>;
    const key = [String(status), `${String(status)[0]}XX`, "default"].find((k) => responses[k] !== undefined);
    if (key === undefined) return `status ${status} is not documented (${Object.keys(responses).join(", ")})`;
    const problem = checkBody(document, resolve(document, responses[key] as JsonObject), reply, payload);
    if (problem === undefined) covered.add(`${name} ${String(operation.operationId)} ${key}`);
    return problem;
  }
  if (status < 400) return undefined;
  // No operation to hold it to (no route, an ICE call without a known action, an upload): an error in
  // the envelope of its path's dialect, as documented for every operation of that dialect.
  const dialect = documents[dialectOf(request.url) === "ice" ? "ice" : "metastudio"];
  const shared = { $ref: `#/components/responses/${status >= 500 ? "ServerError" : "ClientError"}` };
  return checkBody(dialect, resolve(dialect, shared), reply, payload);
}

function checkBody(
  document: JsonObject,
  response: JsonObject,
  reply: FastifyReply,
  payload: unknown,
): string | undefined {
  const content = response.content as Record<string, { schema?: JsonObject }> | undefined;
  const empty =
    payload === undefined ||
    payload === null ||
    payload === "" ||
    (Buffer.isBuffer(payload) && payload.length === 0);
  if (content === undefined) {
    return empty ? undefined : "the document says no body, but one was sent";
  }
  const type =
    String(reply.getHeader("content-type") ?? "")
      .split(";")[0]
      ?.trim() ?? "";
  const media = content[type];
  if (media === undefined)
    return `Content-Type ${type || "(none)"} is not documented (${Object.keys(content).join(", ")})`;
  if (type !== "application/json") return undefined;
  if (typeof payload !== "string" && !Buffer.isBuffer(payload)) {
    return `a ${typeof (payload as Readable)?.pipe === "function" ? "stream" : typeof payload} was sent as JSON`;
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString());
  } catch {
    return "the body is not JSON";
  }
  const validate = validatorOf(document, media.schema ?? {});
  if (validate(body)) return undefined;
  return (validate.errors ?? []).map(describeError).join("; ");
}

/** The action an ICE call named, as the dialect reads it (parameters, then the ACS3 header). */
function iceAction(request: FastifyRequest): string | undefined {
  const from = (source: unknown) =>
    source !== null && typeof source === "object" && !Buffer.isBuffer(source)
      ? (source as Record<string, unknown>).Action
      : undefined;
  const action = from(request.query) ?? from(request.body) ?? request.headers["x-acs-action"];
  return typeof action === "string" ? action : undefined;
}

/** A `$ref` into the document's components, followed. */
function resolve(document: JsonObject, object: JsonObject): JsonObject {
  const ref = object.$ref;
  if (typeof ref !== "string") return object;
  let target: unknown = document;
  for (const part of ref.replace(/^#\//, "").split("/")) target = (target as JsonObject)[part];
  if (target === undefined) throw new Error(`${ref} does not exist`);
  return resolve(document, target as JsonObject);
}

const ajv = new Ajv2020({ allErrors: true, strict: true, validateFormats: false });
const validators = new WeakMap<JsonObject, ValidateFunction>();

/** A compiled schema of the document, its `#/components/schemas/…` refs resolved as `$defs`. */
function validatorOf(document: JsonObject, schema: JsonObject): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    const defs = ((document.components as JsonObject | undefined)?.schemas ?? {}) as JsonObject;
    validate = ajv.compile(asDefs({ ...schema, $defs: defs }) as JsonObject);
    validators.set(schema, validate);
  }
  return validate;
}

function asDefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asDefs);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      key,
      key === "$ref" && typeof v === "string" ? v.replace("#/components/schemas/", "#/$defs/") : asDefs(v),
    ]),
  );
}

function describeError(error: ErrorObject): string {
  const at = error.instancePath || "(body)";
  const extra = (error.params as { additionalProperty?: string }).additionalProperty;
  return `${at} ${error.message}${extra === undefined ? "" : ` (${extra})`}`;
}
