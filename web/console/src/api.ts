import type { VerifyReportBody } from "../../../src/http/schemas/verify-report.js";
import { sdkSignedHeaders } from "./sdk-signer.js";
import type { Session } from "./session.js";

/** A refusal from the API, with the message it gave (MetaStudio's `error_msg`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The path of `path` under the session's API: `/v1/{project_id}…` or `/admin/v1…`. */
export function apiPath(session: Session, path: string): string {
  return session.kind === "project"
    ? `/v1/${encodeURIComponent(session.projectId)}${path}`
    : `/admin/v1${path}`;
}

/**
 * The headers that prove who the session is for a request to `path` (from `apiPath`): the operator's
 * bearer token, the project's X-Auth-Token, or an SDK-HMAC-SHA256 signature of this very request with
 * the project's access key (so `headers` and `body` must be sent exactly as given).
 */
export async function authHeaders(
  session: Session,
  method: string,
  path: string,
  headers: Readonly<Record<string, string>> = {},
  body?: string,
): Promise<Record<string, string>> {
  if (session.kind === "operator") return { ...headers, Authorization: `Bearer ${session.token}` };
  if ("token" in session) return { ...headers, "X-Auth-Token": session.token };
  return sdkSignedHeaders(
    { method, url: new URL(path, location.origin), headers, body },
    session.accessKey,
    Date.now(),
  );
}

/**
 * Calls Doppel as the signed-in session (same origin: no CORS): a project's MetaStudio-style API under
 * `/v1/{project_id}`, or the admin API. A JSON body is given as text, so a signature covers it as sent.
 */
export async function api<T>(
  session: Session,
  path: string,
  init: { readonly method?: string; readonly body?: string } = {},
): Promise<T> {
  const url = apiPath(session, path);
  const method = init.method ?? "GET";
  const headers = await authHeaders(
    session,
    method,
    url,
    init.body === undefined ? {} : { "Content-Type": "application/json" },
    init.body,
  );
  const res = await fetch(url, { method, headers, body: init.body });
  const text = await res.text();
  const body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
  if (!res.ok) {
    const message = typeof body.error_msg === "string" ? body.error_msg : `The server answered ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return body as T;
}

/** One row of List2dModelTrainingJob. */
export interface JobRow {
  readonly job_id: string;
  readonly name: string;
  readonly state: string;
  readonly create_time: string;
  readonly last_update_time: string;
  readonly batch_name?: string;
  readonly tags: readonly string[];
  readonly asset_id?: string;
}

export interface JobPage {
  readonly count: number;
  readonly jobs: readonly JobRow[];
}

/** A job waiting for an operator, with what the automatic checks found. */
export interface ReviewJob {
  readonly job_id: string;
  readonly project_id: string;
  readonly name: string;
  readonly state: string;
  readonly update_time: string;
  readonly verify_report: VerifyReportBody | null;
  readonly training_video_download_url?: string;
  readonly grant_file_download_url?: string;
}

export interface ReviewQueue {
  readonly count: number;
  readonly jobs: readonly ReviewJob[];
}

/** A live pipeline task. */
export interface PipelineTask {
  readonly task_id: string;
  readonly job_id: string;
  readonly stage: string;
  readonly state: string;
  readonly progress: number;
  readonly claims: number;
  readonly failures: number;
  readonly worker?: string;
  readonly lease_until?: string;
  readonly last_error?: string;
}

export interface TaskList {
  readonly count: number;
  readonly tasks: readonly PipelineTask[];
}

/**
 * PUTs `body` to a signed upload URL, reporting bytes sent as they go (XMLHttpRequest: fetch has no
 * upload progress). A refusal carries the server's reason (`error_msg`, or ICE's `Message`).
 */
export function putToSignedUrl(
  url: string,
  body: Blob,
  onProgress: (sent: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(body.size);
        resolve();
        return;
      }
      let reason = `The upload was refused (${xhr.status})`;
      try {
        const answer = JSON.parse(xhr.responseText) as { error_msg?: unknown; Message?: unknown };
        const text = answer.error_msg ?? answer.Message;
        if (typeof text === "string") reason = text;
      } catch {
        // Not JSON (a proxy's page): the status says enough.
      }
      reject(new ApiError(xhr.status, reason));
    };
    xhr.onerror = () => reject(new ApiError(0, "The connection was lost during the upload"));
    xhr.onabort = () => reject(new DOMException("The upload was stopped", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}
