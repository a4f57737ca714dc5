/**
 * The saved upload state: MetaStudio hands out a job's upload URLs only when the job is created, so
 * `doppel jobs create` keeps them in a file on this machine for `doppel jobs upload` to read.
 */
import { chmod, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DoppelClient } from "./api-client.js";
import type { CreateJobResponse } from "./api-types.js";

interface UploadState {
  readonly job_id: string;
  readonly endpoint: string;
  readonly project_id: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly training_video_upload_url: string[];
}

/** Where saved upload states live: `<tmpdir>/doppel-uploads`. */
export function uploadStateDir(): string {
  return join(tmpdir(), "doppel-uploads");
}

/** The saved upload state of one job. */
export function uploadStatePath(jobId: string): string {
  return join(uploadStateDir(), `${jobId}.json`);
}

/** Saves a new job's upload URLs (owner-only: they are credentials for 24 hours). */
export async function saveUploadState(
  client: DoppelClient,
  created: CreateJobResponse,
): Promise<{ path: string; expiresAt: string }> {
  const expires = Number(
    new URL(created.training_video_upload_url[0] ?? "http://x/").searchParams.get("expires"),
  );
  const expiresAt =
    Number.isFinite(expires) && expires > 0 ? new Date(expires * 1000).toISOString() : "unknown";
  const state: UploadState = {
    job_id: created.job_id,
    endpoint: client.endpoint,
    project_id: client.settings.projectId,
    created_at: new Date().toISOString(),
    expires_at: expiresAt,
    training_video_upload_url: created.training_video_upload_url,
  };
  const dir = uploadStateDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = uploadStatePath(created.job_id);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
  return { path, expiresAt };
}

/** A job's saved upload state; throws what to do when it is missing, unreadable or expired. */
export async function loadUploadState(jobId: string): Promise<UploadState> {
  const path = uploadStatePath(jobId);
  let raw: string;
  try {
    raw = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new Error(
      `no upload URLs saved for job ${jobId} (${path}). MetaStudio gives upload URLs only when a job is created, so \`doppel jobs upload\` uses the ones \`doppel jobs create\` saved on this machine. Upload from the machine (and TMPDIR) that created the job, or create a new job with \`doppel jobs create --file <video>\``,
    );
  }
  let state: UploadState;
  try {
    state = JSON.parse(raw) as UploadState;
  } catch {
    throw new Error(`${path} is not valid JSON; delete it and create the job again`);
  }
  const urls = state.training_video_upload_url;
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === "string")) {
    throw new Error(`${path} has no training_video_upload_url list; delete it and create the job again`);
  }
  const expires = Date.parse(state.expires_at);
  if (Number.isFinite(expires) && expires <= Date.now()) {
    throw new Error(
      `the upload URLs of job ${jobId} expired at ${state.expires_at} (they are valid for 24 hours after create). MetaStudio issues no new ones for a job waiting for its upload: delete it (doppel jobs delete --job ${jobId}) and create it again`,
    );
  }
  return state;
}

/** Forgets a job's saved upload URLs once they can no longer be used (submitted or deleted). */
export async function forgetUploadState(jobId: string): Promise<void> {
  await unlink(uploadStatePath(jobId)).catch(() => {});
}
