/**
 * A small client for a running Doppel, speaking its MetaStudio API the way Huawei's SDK does
 * (SDK-HMAC-SHA256 with an access key, or an X-Auth-Token). Used by `doppel jobs`, `doppel assets` and
 * `doppel webhook`; the wire shapes it sends and reads are in api-types.ts.
 */

import { signSdkHmacSha256 } from "../auth/sdk-hmac-sha256-signer.js";
import type {
  AssetInfo,
  AssetList,
  CommandResponse,
  CreateJobRequest,
  CreateJobResponse,
  CreateWebhookRequest,
  DeliveryList,
  JobDetail,
  JobList,
  UpdateWebhookRequest,
  WebhookInfo,
  WebhookList,
} from "./api-types.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";

/** Connection settings as flags hand them over; each falls back to its environment variable. */
export interface ClientFlags {
  endpoint?: string | undefined;
  accessKey?: string | undefined;
  secretKey?: string | undefined;
  project?: string | undefined;
  token?: string | undefined;
}

export type ClientCredentials =
  | { readonly kind: "access-key"; readonly accessKeyId: string; readonly secretAccessKey: string }
  | { readonly kind: "token"; readonly token: string };

export interface ClientSettings {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`. */
  readonly endpoint: string;
  readonly projectId: string;
  readonly credentials: ClientCredentials;
}

const PROJECT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Resolves the settings: flags win over `DOPPEL_ENDPOINT`, `DOPPEL_ACCESS_KEY_ID`,
 * `DOPPEL_SECRET_ACCESS_KEY`, `DOPPEL_PROJECT_ID` and `DOPPEL_TOKEN`. An access key wins over a token
 * unless the token came as a flag. Throws a message that says what to set.
 */
export function clientSettings(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const pick = (flag: string | undefined, name: string) => nonEmpty(flag) ?? nonEmpty(env[name]);
  const endpoint = parseEndpoint(pick(flags.endpoint, "DOPPEL_ENDPOINT") ?? DEFAULT_ENDPOINT);
  const projectId = pick(flags.project, "DOPPEL_PROJECT_ID");
  const accessKeyId = pick(flags.accessKey, "DOPPEL_ACCESS_KEY_ID");
  const secretAccessKey = pick(flags.secretKey, "DOPPEL_SECRET_ACCESS_KEY");
  const token = pick(flags.token, "DOPPEL_TOKEN");
  const hint =
    "Get an access key with `doppel key create --project <id>` and pass --access-key, --secret-key and --project (or set DOPPEL_ACCESS_KEY_ID, DOPPEL_SECRET_ACCESS_KEY and DOPPEL_PROJECT_ID); a token from `doppel token create` works too (--token or DOPPEL_TOKEN)";
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error(
      accessKeyId === undefined
        ? "a secret key was given without its access key id (--access-key or DOPPEL_ACCESS_KEY_ID)"
        : "an access key id was given without its secret key (--secret-key or DOPPEL_SECRET_ACCESS_KEY)",
    );
  }
  let credentials: ClientCredentials;
  if (nonEmpty(flags.token) === undefined && accessKeyId !== undefined && secretAccessKey !== undefined) {
    credentials = { kind: "access-key", accessKeyId, secretAccessKey };
  } else if (token !== undefined) {
    credentials = { kind: "token", token };
  } else {
    throw new Error(`no credentials for ${endpoint}. ${hint}`);
  }
  if (projectId === undefined) {
    throw new Error(
      "no project: pass --project <id> or set DOPPEL_PROJECT_ID (the project_id `doppel key create` printed)",
    );
  }
  if (!PROJECT_ID.test(projectId)) {
    throw new Error(`--project ${JSON.stringify(projectId.slice(0, 70))} is not a project id`);
  }
  return { endpoint, projectId, credentials };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function parseEndpoint(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--endpoint ${JSON.stringify(raw)} is not a URL; expected e.g. ${DEFAULT_ENDPOINT}`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "" || url.hash !== "") {
    throw new Error(
      `--endpoint ${JSON.stringify(raw)} must be an http:// or https:// URL without a query, e.g. ${DEFAULT_ENDPOINT}`,
    );
  }
  return url.toString().replace(/\/+$/, "");
}

/** An answer of the server that is not a success, with MetaStudio's error code when it sent one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Turns an error response body into an ApiError: `error_msg (error_code)` when it is MetaStudio's. */
export function apiErrorOf(status: number, text: string, what: string): ApiError {
  try {
    const body = JSON.parse(text) as { error_code?: unknown; error_msg?: unknown };
    if (typeof body.error_msg === "string") {
      const code = typeof body.error_code === "string" ? body.error_code : undefined;
      return new ApiError(code ? `${body.error_msg} (${code})` : body.error_msg, status, code);
    }
  } catch {
    // not JSON: a proxy, or not Doppel at all
  }
  const excerpt = text.trim().slice(0, 200);
  return new ApiError(
    `${what} answered HTTP ${status}${excerpt ? `: ${excerpt}` : ""}; is this a Doppel server?`,
    status,
    undefined,
  );
}

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
};

/** The system error code behind a failed fetch or http request (also inside an AggregateError). */
export function networkErrorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue = [error];
  while (queue.length > 0) {
    const e = queue.shift() as { code?: unknown; cause?: unknown; errors?: unknown } | undefined;
    if (e === undefined || e === null || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    if (typeof e.code === "string" && e.code !== "ERR_INVALID_ARG_TYPE") return e.code;
    queue.push(e.cause);
    if (Array.isArray(e.errors)) queue.push(...e.errors);
  }
  return undefined;
}

/**
 * Rewords a network failure talking to `url`: a server that is not there gets told how to start one;
 * anything else names the code. Returns undefined for errors that are not network failures.
 */
export function networkError(error: unknown, url: string, endpoint: string): Error | undefined {
  const code = networkErrorCode(error);
  if (code !== undefined && code in UNREACHABLE) {
    return new Error(
      `Doppel is not reachable at ${endpoint} (${UNREACHABLE[code]}). Start it with \`npx doppel serve\` (or \`npm start\`) in its directory, or point --endpoint / DOPPEL_ENDPOINT at the running server`,
    );
  }
  if (code !== undefined || (error instanceof TypeError && error.message === "fetch failed")) {
    const cause = (error as { cause?: unknown }).cause;
    const why = code ?? (cause instanceof Error ? cause.message : String(error));
    return new Error(`the connection to ${new URL(url).host} failed (${why})`);
  }
  return undefined;
}

export type Query = Record<string, string | number | undefined>;

/** The API collections the client calls: training jobs, the asset library, webhooks and events. */
type Collection = "jobs" | "assets" | "webhooks" | "events";

/** Calls one Doppel's MetaStudio API for one project with global fetch. */
export class DoppelClient {
  constructor(readonly settings: ClientSettings) {}

  get endpoint(): string {
    return this.settings.endpoint;
  }

  /** The jobs collection URL of the project. */
  jobsUrl(suffix = ""): string {
    return `${this.settings.endpoint}/v1/${encodeURIComponent(this.settings.projectId)}/digital-human-training-manage/user/jobs${suffix}`;
  }

  /** The asset library URL of the project. */
  assetsUrl(suffix = ""): string {
    return `${this.settings.endpoint}/v1/${encodeURIComponent(this.settings.projectId)}/digital-assets${suffix}`;
  }

  /** Doppel's own events API (webhooks, events) of the project: `webhooks` or `events`. */
  doppelUrl(collection: "webhooks" | "events", suffix = ""): string {
    return `${this.settings.endpoint}/v1/${encodeURIComponent(this.settings.projectId)}/doppel/${collection}${suffix}`;
  }

  createJob(body: CreateJobRequest): Promise<CreateJobResponse> {
    return this.request("POST", "", { body });
  }

  showJob(jobId: string): Promise<JobDetail> {
    return this.request("GET", `/${encodeURIComponent(jobId)}`);
  }

  listJobs(query: Query): Promise<JobList> {
    return this.request("GET", "", { query });
  }

  async deleteJob(jobId: string): Promise<void> {
    await this.request("DELETE", `/${encodeURIComponent(jobId)}`);
  }

  command(jobId: string, command: string, message?: string): Promise<CommandResponse> {
    return this.request("POST", `/${encodeURIComponent(jobId)}/command`, {
      body: message === undefined ? { command } : { command, command_message: message },
    });
  }

  listAssets(query: Query): Promise<AssetList> {
    return this.request("GET", "", { query, collection: "assets" });
  }

  showAsset(assetId: string): Promise<AssetInfo> {
    return this.request("GET", `/${encodeURIComponent(assetId)}`, { collection: "assets" });
  }

  createWebhook(body: CreateWebhookRequest): Promise<WebhookInfo> {
    return this.request("POST", "", { body, collection: "webhooks" });
  }

  listWebhooks(): Promise<WebhookList> {
    return this.request("GET", "", { collection: "webhooks" });
  }

  showWebhook(webhookId: string): Promise<WebhookInfo> {
    return this.request("GET", `/${encodeURIComponent(webhookId)}`, { collection: "webhooks" });
  }

  updateWebhook(webhookId: string, body: UpdateWebhookRequest): Promise<WebhookInfo> {
    return this.request("PUT", `/${encodeURIComponent(webhookId)}`, { body, collection: "webhooks" });
  }

  async deleteWebhook(webhookId: string): Promise<void> {
    await this.request("DELETE", `/${encodeURIComponent(webhookId)}`, { collection: "webhooks" });
  }

  rotateWebhookSecret(webhookId: string): Promise<WebhookInfo> {
    return this.request("POST", `/${encodeURIComponent(webhookId)}/rotate-secret`, {
      collection: "webhooks",
    });
  }

  listDeliveries(webhookId: string, query: Query): Promise<DeliveryList> {
    return this.request("GET", `/${encodeURIComponent(webhookId)}/deliveries`, {
      query,
      collection: "webhooks",
    });
  }

  /** Queues the deliveries of `eventIds` (all of the webhook's failed ones when undefined) again. */
  redeliver(webhookId: string, eventIds?: readonly string[]): Promise<{ queued: number }> {
    return this.request("POST", `/${encodeURIComponent(webhookId)}/redeliver`, {
      body: eventIds === undefined ? {} : { event_ids: eventIds },
      collection: "webhooks",
    });
  }

  /**
   * The request of the project's live event stream (only `jobId`'s events when given): its URL, and
   * the headers of one connection, authenticated afresh each time (a signature is dated), resuming
   * after `lastEventId`. For `eventStream` (event-stream.ts).
   */
  eventStreamRequest(query: { jobId?: string }): {
    url: URL;
    headers: (lastEventId: string | undefined) => Record<string, string>;
  } {
    const url = new URL(this.doppelUrl("events"));
    if (query.jobId !== undefined) url.searchParams.append("job_id", query.jobId);
    return {
      url,
      headers: (lastEventId) =>
        this.#authenticate("GET", url, undefined, {
          accept: "text/event-stream",
          ...(lastEventId !== undefined && { "last-event-id": lastEventId }),
        }),
    };
  }

  /** One authenticated JSON call; resolves with the parsed answer (undefined for an empty one). */
  async request<T>(
    method: string,
    suffix: string,
    options: { query?: Query; body?: unknown; collection?: Collection } = {},
  ): Promise<T> {
    const collection = options.collection ?? "jobs";
    const url = new URL(
      collection === "jobs"
        ? this.jobsUrl(suffix)
        : collection === "assets"
          ? this.assetsUrl(suffix)
          : this.doppelUrl(collection, suffix),
    );
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.append(name, String(value));
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = this.#authenticate(method, url, body);
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (error) {
      throw networkError(error, url.toString(), this.endpoint) ?? error;
    }
    const text = await response.text();
    if (!response.ok) throw apiErrorOf(response.status, text, `${method} ${url.pathname}`);
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(
        `${method} ${url.pathname} answered something that is not JSON; is this a Doppel server?`,
      );
    }
  }

  #authenticate(
    method: string,
    url: URL,
    body: string | undefined,
    extra: Record<string, string> = {},
  ): Record<string, string> {
    // As Huawei's SDK: JSON content type on every call (it is signed), the project in X-Project-Id.
    const headers = { "content-type": "application/json", "x-project-id": this.settings.projectId, ...extra };
    const { credentials } = this.settings;
    if (credentials.kind === "token") return { ...headers, "x-auth-token": credentials.token };
    return signSdkHmacSha256(
      { method, url, headers, body },
      { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    ).headers;
  }
}
