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

/** Calls Doppel's MetaStudio-style API as the signed-in project (same origin: no CORS). */
export async function api<T>(session: Session, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`/v1/${encodeURIComponent(session.projectId)}${path}`, {
    ...init,
    headers: {
      "X-Auth-Token": session.token,
      ...(init.body !== undefined && { "Content-Type": "application/json" }),
      ...init.headers,
    },
  });
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
