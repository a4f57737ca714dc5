import { ICE_ACTIONS, type IceAction } from "../dialects/ice/routes.js";
import { ICE_VERSION } from "../dialects/ice/schemas.js";
import { type DocumentDefinition, openApiDocument } from "./document-shell.js";
import { closeObjects, type JsonObject, plainSchema } from "./json-schema.js";
import { withRequestIds } from "./operation.js";

/**
 * ICE's error envelope, as dialects/ice/envelope.ts builds it. Written out here because the dialect
 * builds the body in code and has no schema of it; the response check (test/support) holds every
 * real ICE error to this.
 */
const ICE_ERROR: JsonObject = {
  type: "object",
  required: ["RequestId", "HostId", "Code", "Message", "Recommend"],
  properties: {
    RequestId: { type: "string", description: "This request's id, an upper-case UUID" },
    HostId: { type: "string", description: "The host the request was sent to" },
    Code: { type: "string", description: "Alibaba's error code, e.g. InvalidParameter (README, Errors)" },
    Message: { type: "string" },
    Recommend: { type: "string" },
  },
  additionalProperties: false,
};

const ICE: DocumentDefinition = {
  info: {
    title: "Doppel: Alibaba Cloud ICE avatar training",
    version: ICE_VERSION,
    description:
      "ICE's avatar-training RPC actions as Doppel answers them, so Alibaba's SDKs work unchanged. Every " +
      "action is a call to `/` naming it in `Action` (or, signed with ACS3, in `x-acs-action`) with " +
      `\`Version=${ICE_VERSION}\`; each is listed here under the path \`/#<Action>\`, which stands for ` +
      "`/` (a fragment is never sent). Answers are `{RequestId, Data, Success}` — except the event " +
      "callback's, which are top-level as ICE's are (`{RequestId, Success}`, `{RequestId, CallbackURL, …}`) — " +
      "errors `{RequestId, HostId, Code, Message, Recommend}`.",
  },
  tags: [
    { name: "Avatar training jobs", description: "Jobs that train an avatar from a person's video" },
    { name: "Media", description: "Files a job is made from" },
    { name: "Avatars", description: "What finished jobs produced" },
    { name: "Event callbacks", description: "Where ICE's AvatarTrainingComplete callbacks are POSTed" },
  ],
  securitySchemes: {
    Acs3HmacSha256: {
      type: "apiKey",
      in: "header",
      name: "Authorization",
      description:
        "`ACS3-HMAC-SHA256 Credential=<key id>,SignedHeaders=…,Signature=…` with the x-acs-* headers, " +
        "as Alibaba's SDK signs by default; an access key from `doppel key create --project <id>`",
    },
    RpcSignatureV1: {
      type: "apiKey",
      in: "query",
      name: "Signature",
      description:
        "RPC v1 HMAC-SHA1 over the parameters (AccessKeyId, SignatureMethod, SignatureVersion, " +
        'SignatureNonce, Timestamp), as Alibaba\'s SDK signs with signatureAlgorithm "v2"',
    },
  },
  requestIdHeader: {
    description: "This request's id (32 hex digits): RequestId without dashes, in lower case",
    schema: { type: "string" },
  },
};

/** How each action is listed: a one-line summary and its group. */
const ACTIONS: Record<string, { summary: string; tag: string }> = {
  ListAvatarTrainingJobs: { summary: "List avatar training jobs", tag: "Avatar training jobs" },
  CreateUploadMedia: { summary: "Create a media and its signed upload URL (Doppel's form)", tag: "Media" },
  CreateAvatarTrainingJob: { summary: "Create an avatar training job", tag: "Avatar training jobs" },
  UpdateAvatarTrainingJob: { summary: "Update a job in Init or Fail", tag: "Avatar training jobs" },
  SubmitAvatarTrainingJob: { summary: "Submit a job for training", tag: "Avatar training jobs" },
  GetAvatarTrainingJob: { summary: "Show a job", tag: "Avatar training jobs" },
  DeleteAvatarTrainingJob: { summary: "Delete a job in Init or Fail", tag: "Avatar training jobs" },
  GetAvatar: { summary: "Show a trained avatar", tag: "Avatars" },
  ListAvatars: { summary: "List trained avatars", tag: "Avatars" },
  SetEventCallback: { summary: "Set the account's event callback (HTTP only)", tag: "Event callbacks" },
  GetEventCallback: { summary: "Show the account's event callback", tag: "Event callbacks" },
};

const REQUEST_ID: JsonObject = { type: "string", description: "This request's id, an upper-case UUID" };

/**
 * An action's 200 body: `{RequestId, Data, Success}` around its result, or for a `flat` action its
 * result's own fields beside RequestId (the result is an object schema: its properties and required
 * names are lifted into the body).
 */
function successBody(action: IceAction): JsonObject {
  const result = plainSchema(action.data);
  if (action.envelope === "data") {
    return {
      type: "object",
      required: ["RequestId", "Data", "Success"],
      properties: { RequestId: REQUEST_ID, Data: result, Success: { const: true } },
    };
  }
  const { properties, required } = result;
  if (result.type !== "object" || !isObject(properties)) {
    throw new Error("a flat ICE action's result must be an object schema");
  }
  return {
    type: "object",
    required: ["RequestId", ...(Array.isArray(required) ? (required as string[]) : [])],
    properties: { RequestId: REQUEST_ID, ...properties },
  };
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The OpenAPI path that stands for one RPC action (see iceDocument). */
export function actionPath(action: string): string {
  return `/#${action}`;
}

/**
 * ICE's RPC API, one operation per action. Every action is `POST /` (or GET) with `Action` and
 * `Version` among the parameters, but OpenAPI keys operations by path and method, and a query string
 * in a path key is not valid OpenAPI. So each action gets the path `/#<Action>`: a fragment, which a
 * URL never sends, so the request still goes to `/`; the body schema pins `Action` and `Version` to
 * their one value. The document stays valid OpenAPI 3.1, lists every action as its own operation with
 * its own parameters and answer (`Data`, or a flat action's fields), and `x-rpc-action` names the
 * action for tools that want it.
 */
export function iceDocument(): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const [name, action] of Object.entries(ICE_ACTIONS)) {
    const listed = ACTIONS[name] ?? { summary: name, tag: "Other" };
    const params = plainSchema(action.params);
    const body: JsonObject = {
      type: "object",
      required: ["Action", "Version", ...action.required],
      properties: {
        // `enum` of one rather than `const`: the same constraint, and reference renderers show its value.
        Action: { type: "string", enum: [name] },
        Version: { type: "string", enum: [ICE_VERSION] },
        ...(params.properties as JsonObject),
      },
    };
    const envelope = successBody(action);
    const error = { $ref: "#/components/schemas/IceError" };
    paths[actionPath(name)] = {
      post: {
        operationId: name,
        summary: listed.summary,
        tags: [listed.tag],
        description:
          `\`POST /\` with \`Action=${name}\`. The parameters may equally be sent in the query string ` +
          "(as the SDKs do), and `GET /` with them all in the query string is the same call.",
        "x-rpc-action": name,
        requestBody: {
          required: true,
          content: { "application/x-www-form-urlencoded": { schema: body } },
        },
        responses: withRequestIds({
          200: {
            description: "Success",
            content: { "application/json": { schema: closeObjects(envelope) } },
          },
          "4XX": {
            description: "Refused: Code says why (README, Errors)",
            content: { "application/json": { schema: error } },
          },
          "5XX": {
            description: "Doppel failed (InternalError)",
            content: { "application/json": { schema: error } },
          },
        }),
      },
    };
  }
  return openApiDocument(ICE, paths, { IceError: ICE_ERROR });
}
