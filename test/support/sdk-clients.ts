/**
 * The two clouds' real SDK clients pointed at a running test server, and raw signers built on the
 * Alibaba SDK's own signing functions for tests that must control every byte of a request.
 *
 * - Huawei: `ClientBuilder` + `BasicCredentials` → `HcClient.sendRequest`, called with exactly the
 *   options the generated MetaStudio client (`List2dModelTrainingJob`) passes.
 * - Alibaba: `@alicloud/openapi-client` `callApi` with the `Params` the generated ICE client
 *   (`@alicloud/ice20201109`) uses, signed with V3 (default) or RPC v1 (`signatureAlgorithm: "v2"`).
 *
 * Both return `{status, body}` on success and rethrow the SDK's own error object on failure, so tests
 * see what an application using the SDK would see.
 */

import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import { createRequire } from "node:module";
import type { IssuedAccessKey } from "../../src/services/admin.service.js";
import type { TestServer } from "./server.js";

/** The SDKs are CommonJS with `exports.default`; `require` gives the shapes their typings describe. */
const requireCjs = createRequire(import.meta.url);

const { ClientBuilder } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core/ClientBuilder",
) as typeof import("@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js");
const { BasicCredentials } = requireCjs(
  "@huaweicloud/huaweicloud-sdk-core",
) as typeof import("@huaweicloud/huaweicloud-sdk-core");
const OpenApi = requireCjs("@alicloud/openapi-client") as typeof import("@alicloud/openapi-client");
const OpenApiUtil = (requireCjs("@alicloud/openapi-util") as typeof import("@alicloud/openapi-util")).default;
const TeaUtil = requireCjs("@alicloud/tea-util") as typeof import("@alicloud/tea-util");

export type HcClient = import("@huaweicloud/huaweicloud-sdk-core/HcClient.js").HcClient;
type HttpRequestOptions = import("@huaweicloud/huaweicloud-sdk-core/HcClient.js").HttpRequestOptions;
export type IceClient = InstanceType<typeof OpenApi.default>;

export const ICE_VERSION = "2020-11-09";
export const METASTUDIO_JOBS = "/v1/{project_id}/digital-human-training-manage/user/jobs";
/** sha256 of the empty body, hex: what both SDKs send for a request without a body. */
export const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

/** Credentials to build a client from; defaults come from a project's issued key. */
export interface ClientCredentials {
  readonly accessKeyId: string;
  readonly secret: string;
  readonly projectId: string;
}

export function credentialsOf(
  key: IssuedAccessKey,
  changes: Partial<ClientCredentials> = {},
): ClientCredentials {
  return {
    accessKeyId: key.access_key_id,
    secret: key.secret_access_key,
    projectId: key.project_id,
    ...changes,
  };
}

/** `127.0.0.1:<port>` of a test server. */
export function hostOf(server: TestServer): string {
  return new URL(server.baseUrl).host;
}

// ---------------------------------------------------------------------------------------------------
// Huawei

/** The SDK's HTTP client logs every 4xx to stdout at ERROR level; tests provoke many on purpose. */
const quietLogger = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => "error" };

/** An HcClient as `MetaStudioClient.newBuilder()…build()` makes it: AK/SK + project id, one endpoint. */
export function huaweiClient(server: TestServer, credentials: ClientCredentials): HcClient {
  const basic = new BasicCredentials()
    .withAk(credentials.accessKeyId)
    .withSk(credentials.secret)
    .withProjectId(credentials.projectId);
  const client = new ClientBuilder((hc: HcClient) => hc)
    .withEndpoint(server.baseUrl)
    .withCredential(basic)
    .build();
  (client as unknown as { httpClient: { _logger: unknown } }).httpClient._logger = quietLogger;
  return client;
}

/** The fields of the SDK's ServiceResponseException (ClientRequestException for 4xx). */
export interface HuaweiSdkError extends Error {
  readonly httpStatusCode?: number;
  readonly errorCode?: string;
  readonly errorMsg?: string;
  readonly requestId?: string;
}

export interface HuaweiResult<T> {
  readonly status: number;
  /** The body exactly as the server sent it (the SDK's added `httpStatusCode`/`X-Request-Id` removed). */
  readonly body: T;
  /** `X-Request-Id`, which the generated client copies into the response object. */
  readonly requestId: string | undefined;
}

export interface MetaStudioList {
  count: number;
  jobs: Array<Record<string, unknown>>;
}

/**
 * GET `/v1/{project_id}/digital-human-training-manage/user/jobs` as the generated
 * `MetaStudioClient.list2dModelTrainingJob` issues it: the project as a path parameter, every query
 * parameter that is set, `X-App-UserId` (and any other header) only when given.
 */
export async function huaweiListJobs<T = MetaStudioList>(
  client: HcClient,
  projectId: string,
  query: Readonly<Record<string, string | number | undefined>> = {},
  headers: Readonly<Record<string, string>> = {},
  observe?: (status: number, rawBody: string) => void,
): Promise<HuaweiResult<T>> {
  const queryParams: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(query)) if (value !== undefined) queryParams[name] = value;
  const options = {
    method: "GET",
    url: METASTUDIO_JOBS,
    contentType: "application/json",
    queryParams,
    pathParams: { project_id: projectId },
    headers: { ...headers },
    responseHeaders: ["X-Request-Id"],
    // `observe` sees the body text before the SDK turns a 4xx into its exception (which keeps only
    // error_code and error_msg): the one way to check the error envelope has nothing else in it.
    ...(observe && { axiosRequestConfig: { transformResponse: [observingParser(observe)] } }),
  };
  const response = (await client.sendRequest(options as unknown as HttpRequestOptions)) as Record<
    string,
    unknown
  >;
  const { httpStatusCode, "X-Request-Id": requestId, ...body } = response;
  return { status: Number(httpStatusCode), body: body as T, requestId: requestId as string | undefined };
}

/**
 * Any MetaStudio call as the generated client issues it: `url` is the SDK's template (e.g.
 * `…/user/jobs/{job_id}/command`), path parameters filled by the SDK, a JSON body and query when given.
 */
export async function huaweiCall<T = Record<string, unknown>>(
  client: HcClient,
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: string,
  pathParams: Readonly<Record<string, string>>,
  body?: unknown,
  headers: Readonly<Record<string, string>> = {},
  query: Readonly<Record<string, string | number>> = {},
): Promise<HuaweiResult<T>> {
  const options = {
    method,
    url,
    contentType: "application/json",
    queryParams: { ...query },
    pathParams: { ...pathParams },
    headers: { ...headers },
    ...(body !== undefined && { data: body }),
    responseHeaders: ["X-Request-Id"],
  };
  const response = (await client.sendRequest(options as unknown as HttpRequestOptions)) as Record<
    string,
    unknown
  >;
  const { httpStatusCode, "X-Request-Id": requestId, ...rest } = response ?? {};
  return { status: Number(httpStatusCode), body: rest as T, requestId: requestId as string | undefined };
}

/** An axios response transformer that reports the raw text, then parses JSON as axios would. */
function observingParser(observe: (status: number, rawBody: string) => void) {
  return (data: unknown, _headers: unknown, status?: number): unknown => {
    const text =
      typeof data === "string" ? data : Buffer.isBuffer(data) ? data.toString("utf8") : String(data);
    observe(status ?? 0, text);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
}

/** Runs an SDK call that must fail and returns the SDK's error object. */
export async function huaweiError(call: Promise<unknown>): Promise<HuaweiSdkError> {
  try {
    await call;
  } catch (error) {
    return error as HuaweiSdkError;
  }
  throw new Error("expected the Huawei SDK call to fail, but it succeeded");
}

// ---------------------------------------------------------------------------------------------------
// Alibaba

export type IceSigning = "v3" | "v2";

/** An openapi-client `Client` as the generated ICE client builds it, pointed at the test server. */
export function iceClient(
  server: TestServer,
  credentials: ClientCredentials,
  signing: IceSigning,
): IceClient {
  return new OpenApi.default(
    new OpenApi.Config({
      accessKeyId: credentials.accessKeyId,
      accessKeySecret: credentials.secret,
      endpoint: hostOf(server),
      protocol: "http",
      ...(signing === "v2" ? { signatureAlgorithm: "v2" } : {}),
    }),
  );
}

/** The SDK's ResponseError: `code` and `statusCode` from the error body, `data` the body itself. */
export interface IceSdkError extends Error {
  readonly code: string;
  readonly statusCode?: number;
  readonly data?: Record<string, unknown>;
}

export interface IceResult<T> {
  readonly status: number;
  readonly body: T;
}

export interface IceListBody {
  RequestId: string;
  Data: { AvatarTrainingJobList: Array<Record<string, unknown>>; TotalCount: number };
  Success: boolean;
}

/** Calls an ICE RPC action through `callApi`, exactly as `@alicloud/ice20201109` does. */
export async function iceCall<T = IceListBody>(
  client: IceClient,
  action: string,
  query: Readonly<Record<string, unknown>> = {},
  options: { version?: string; method?: "GET" | "POST" } = {},
): Promise<IceResult<T>> {
  const params = new OpenApi.Params({
    action,
    version: options.version ?? ICE_VERSION,
    protocol: "HTTP",
    pathname: "/",
    method: options.method ?? "POST",
    authType: "AK",
    style: "RPC",
    reqBodyType: "formData",
    bodyType: "json",
  });
  const request = new OpenApi.OpenApiRequest({ query: OpenApiUtil.query({ ...query }) });
  const response = (await client.callApi(params, request, new TeaUtil.RuntimeOptions({}))) as {
    statusCode: number;
    body: T;
  };
  return { status: response.statusCode, body: response.body };
}

/** Runs an ICE SDK call that must fail and returns the SDK's error object. */
export async function iceError(call: Promise<unknown>): Promise<IceSdkError> {
  try {
    await call;
  } catch (error) {
    return error as IceSdkError;
  }
  throw new Error("expected the ICE SDK call to fail, but it succeeded");
}

// ---------------------------------------------------------------------------------------------------
// Raw signed requests (the SDK's own signing functions, our own bytes on the wire)

/** RFC 3986 encoding as Alibaba's canonical forms use it (`encodeURIComponent` plus `!'()*`). */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A query string the way the canonical forms encode it (keys in the given order). */
export function queryString(query: Readonly<Record<string, string>>): string {
  return Object.entries(query)
    .map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)
    .join("&");
}

/** `yyyy-MM-ddTHH:mm:ssZ` of an epoch-milliseconds time. */
export function acsDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A fully signed request: send `headers` with method POST to `url`, as often as wanted. */
export interface SignedRaw {
  readonly url: string;
  readonly method: "POST" | "GET";
  readonly headers: Record<string, string>;
}

/**
 * Signs an ICE request with ACS3-HMAC-SHA256 through `OpenApiUtil.getAuthorization`, the function
 * `callApi` itself uses: `query` holds only business parameters, the action and version go in
 * `x-acs-*` headers (as the SDK sends them).
 */
export function signAcs3(
  server: TestServer,
  credentials: ClientCredentials,
  query: Readonly<Record<string, string>>,
  options: {
    action?: string;
    version?: string;
    dateMs?: number;
    nonce?: string;
    method?: "POST" | "GET";
    /** The body that will be sent (its hash is signed); none when absent. */
    body?: string;
  } = {},
): SignedRaw {
  const method = options.method ?? "POST";
  const bodySha256 =
    options.body === undefined ? EMPTY_SHA256 : createHash("sha256").update(options.body).digest("hex");
  const headers: Record<string, string> = {
    host: hostOf(server),
    "x-acs-action": options.action ?? "ListAvatarTrainingJobs",
    "x-acs-version": options.version ?? ICE_VERSION,
    "x-acs-date": acsDate(options.dateMs ?? Date.now()),
    "x-acs-signature-nonce": options.nonce ?? randomUUID(),
    "x-acs-content-sha256": bodySha256,
  };
  const authorization = OpenApiUtil.getAuthorization(
    { method, pathname: "/", query: { ...query }, headers } as never,
    "ACS3-HMAC-SHA256",
    bodySha256,
    credentials.accessKeyId,
    credentials.secret,
  );
  const qs = queryString(query);
  return {
    url: `${server.baseUrl}/${qs ? `?${qs}` : ""}`,
    method,
    headers: { ...headers, authorization },
  };
}

/**
 * Signs an ICE request with RPC v1 HMAC-SHA1 through `OpenApiUtil.getRPCSignature`, with the common
 * parameters `doRPCRequest` adds; everything travels in the query string.
 */
export function signRpcV1(
  server: TestServer,
  credentials: ClientCredentials,
  query: Readonly<Record<string, string>>,
  options: {
    action?: string;
    version?: string;
    dateMs?: number;
    nonce?: string;
    method?: "POST" | "GET";
    /** Common parameters to leave out (e.g. `Action`), to test what the server does without them. */
    without?: readonly string[];
  } = {},
): SignedRaw {
  const method = options.method ?? "POST";
  const params: Record<string, string> = {
    Action: options.action ?? "ListAvatarTrainingJobs",
    Format: "json",
    Version: options.version ?? ICE_VERSION,
    Timestamp: acsDate(options.dateMs ?? Date.now()),
    SignatureNonce: options.nonce ?? randomUUID(),
    SignatureMethod: "HMAC-SHA1",
    SignatureVersion: "1.0",
    AccessKeyId: credentials.accessKeyId,
    ...query,
  };
  for (const name of options.without ?? []) delete params[name];
  params.Signature = OpenApiUtil.getRPCSignature(params, method, credentials.secret);
  return { url: `${server.baseUrl}/?${queryString(params)}`, method, headers: { host: hostOf(server) } };
}

/**
 * Sends a raw signed request with exactly these headers (through `node:http`: `fetch` would silently
 * replace a `host` header with the URL's), with `body` when given, and returns status and parsed JSON body.
 */
export function sendRaw(
  raw: SignedRaw,
  body?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  // Split by hand: `new URL` would re-encode parts of the path and query.
  const match = /^http:\/\/([^/:]+):(\d+)(\/.*)$/.exec(raw.url);
  if (!match) throw new Error(`not an http://host:port/ URL: ${raw.url}`);
  const [, host, port, path] = match;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        method: raw.method,
        path,
        headers: raw.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`status ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
