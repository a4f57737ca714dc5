import type { Readable } from "node:stream";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import {
  isHexId,
  type Job,
  MATTING_TYPES,
  MODEL_RESOLUTIONS,
  MODEL_VERSIONS,
  newJobId,
} from "../domain/job.js";
import { UPLOAD_STATES } from "../domain/job-commands.js";
import { checkTags, oneOf, optionalText, requiredText } from "../domain/job-fields.js";
import { downloadPath, FILE_URL_TTL_MS, type FileSlot, uploadPath } from "../domain/job-files.js";
import { DEFAULT_JOB_OPTIONS, DELETABLE_STATES, type JobOptions } from "../domain/job-options.js";
import { withoutUndefined } from "../domain/objects.js";
import type { OperationLog } from "../domain/operation-log.js";
import type { JobState } from "../domain/states.js";
import { checkText } from "../domain/text.js";
import { findClientTokenJob, insertClientToken } from "../store/client-token.repository.js";
import {
  deleteJobRow,
  findJob,
  findJobByClientToken,
  findJobOptions,
  findJobOptionsOf,
  findVersionedJob,
  insertJob,
  type JobEdit,
  updateJobFields,
} from "../store/job.repository.js";
import { findSlotBlobKeys, listJobFiles } from "../store/job-file.repository.js";
import { appendOperationLog, listOperationLogs } from "../store/operation-log.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { adoptDirectUploads, uploadUrl } from "./direct-uploads.js";
import { incomingKey, jobPrefix, partKey } from "./job-blobs.js";

/** A create request after the dialect has parsed its wire form. */
export interface CreateJobInput {
  readonly name: string;
  readonly description?: string | undefined;
  readonly avatarType?: string | undefined;
  readonly contact?: string | undefined;
  readonly batchName?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  readonly modelVersion?: string | undefined;
  readonly mattingType?: string | undefined;
  readonly modelResolution?: string | undefined;
  readonly options?: Partial<JobOptions> | undefined;
  /** Same token, same job: a retried create returns the job the first attempt made. */
  readonly clientToken?: string | undefined;
}

export interface CreatedJob {
  readonly job: Job;
  readonly options: JobOptions;
  /** False when the client token named a job created before. */
  readonly created: boolean;
}

/** Creates a job in WAIT_FILE_UPLOAD, or returns the one an earlier request with the same token made. */
export async function createJob(
  ctx: ServiceContext,
  caller: Caller,
  input: CreateJobInput,
): Promise<CreatedJob> {
  const projectId = caller.principal.projectId;
  const clientToken =
    input.clientToken === undefined ? undefined : checkText("client_token", input.clientToken, 128);
  if (clientToken !== undefined) {
    const earlier = await jobOfClientToken(ctx, projectId, clientToken);
    if (earlier) return earlier;
  }
  const now = ctx.now();
  const options = checkOptions({ ...DEFAULT_JOB_OPTIONS, ...input.options });
  const job: Job = {
    id: newJobId(now),
    projectId,
    appUserId: caller.appUserId ?? null,
    name: requiredText("name", input.name, 64),
    description: optionalText("description", input.description, 1000) ?? null,
    avatarType: oneOf("avatar_type", input.avatarType ?? "2DAvatar", ["2DAvatar"]),
    state: "WAIT_FILE_UPLOAD",
    batchName: optionalText("batch_name", input.batchName, 255) ?? null,
    tags: checkTags(input.tags ?? []),
    modelVersion: oneOf("model_version", input.modelVersion ?? "V3", MODEL_VERSIONS),
    mattingType: oneOf("matting_type", input.mattingType ?? "AI", MATTING_TYPES),
    modelResolution: oneOf("model_resolution", input.modelResolution ?? "1080P", MODEL_RESOLUTIONS),
    assetId: null,
    contact: optionalText("contact", input.contact, 255) ?? null,
    message: null,
    createTime: now,
    updateTime: now,
    firstTrainingTime: null,
    lastTrainingTime: null,
  };
  try {
    await ctx.database.db.transaction().execute(async (trx) => {
      await insertJob(trx, job, { options, clientToken: clientToken ?? null });
      if (clientToken !== undefined) {
        await insertClientToken(trx, { projectId, clientToken, jobId: job.id, createTime: now });
      }
      await appendOperationLog(trx, job.id, userLog(now, "CREATE_JOB", "Job created; waiting for its files"));
    });
  } catch (error) {
    // Two creates with one token raced: the unique index let one through; answer with its job.
    const winner =
      clientToken === undefined ? undefined : await jobOfClientToken(ctx, projectId, clientToken);
    if (winner) return winner;
    throw error;
  }
  return { job, options, created: true };
}

/**
 * The job a client token created, so that a retried (or replayed) create answers with it. A token
 * whose job was deleted stays spent: Huawei's signature has no nonce, so a captured create verifies
 * again for 15 minutes, and it must not bring the deleted job back as a new one.
 */
async function jobOfClientToken(
  ctx: ServiceContext,
  projectId: string,
  clientToken: string,
): Promise<CreatedJob | undefined> {
  // The reservation first, then the job: both are committed together, so a job missing after its
  // reservation was seen is a deleted job, not one whose create has not committed yet.
  const jobId = await findClientTokenJob(ctx.database.db, projectId, clientToken);
  if (jobId === undefined) return undefined;
  const job = await findJobByClientToken(ctx.database.db, projectId, clientToken);
  if (job) return { job, options: await findJobOptions(ctx.database.db, job.id), created: false };
  throw new DoppelError(
    "CLIENT_TOKEN_USED",
    `Client token ${JSON.stringify(clientToken)} created job ${jobId}, which has been deleted; a client token names one job for good, so send a new token to create another job`,
  );
}

export interface JobDetail {
  readonly job: Job;
  readonly options: JobOptions;
  readonly logs: readonly OperationLog[];
}

/** One of the caller's jobs with its options and history; JOB_NOT_FOUND otherwise. */
export async function showJob(ctx: ServiceContext, caller: Caller, jobId: string): Promise<JobDetail> {
  let job = await requireJob(ctx, caller, jobId);
  // Adopting a file bumps the job's version and update time: read it again only then.
  if (UPLOAD_STATES.includes(job.state) && (await adoptDirectUploads(ctx, job.id, "lenient"))) {
    job = await requireJob(ctx, caller, jobId);
  }
  const [options, logs] = await Promise.all([
    findJobOptions(ctx.database.db, job.id),
    listOperationLogs(ctx.database.db, job.id),
  ]);
  return { job, options, logs };
}

/** A user edit; absent fields stay as they are. */
export type UpdateJobInput = Omit<CreateJobInput, "clientToken" | "name"> & {
  readonly name?: string | undefined;
};

/**
 * Edits one of the caller's jobs in one of `allowedStates` (MetaStudio: after a failed check; ICE: in
 * Init or Fail for the video). Returns the job and its options as they are now.
 */
export async function updateJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  input: UpdateJobInput,
  allowedStates: readonly JobState[],
): Promise<CreatedJob> {
  const job = await requireJob(ctx, caller, jobId);
  const current = await findVersionedJob(ctx.database.db, job.projectId, job.id);
  if (!current) throw new DoppelError("JOB_NOT_FOUND", `No job ${jobId} in this project`);
  if (!allowedStates.includes(current.job.state)) {
    throw new DoppelError(
      "INVALID_STATE",
      `Job ${jobId} is in state ${current.job.state} and cannot be updated now; it can be updated in ${allowedStates.join(", ")}`,
    );
  }
  const oldOptions = await findJobOptions(ctx.database.db, job.id);
  const options =
    input.options === undefined
      ? undefined
      : checkOptions({ ...oldOptions, ...withoutUndefined(input.options) });
  const edit: JobEdit = {
    ...(input.name !== undefined && { name: requiredText("name", input.name, 64) }),
    ...(input.description !== undefined && {
      description: optionalText("description", input.description, 1000) ?? null,
    }),
    ...(input.contact !== undefined && { contact: optionalText("contact", input.contact, 255) ?? null }),
    ...(input.batchName !== undefined && {
      batchName: optionalText("batch_name", input.batchName, 255) ?? null,
    }),
    ...(input.tags !== undefined && { tags: checkTags(input.tags) }),
    ...(input.modelVersion !== undefined && {
      modelVersion: oneOf("model_version", input.modelVersion, MODEL_VERSIONS),
    }),
    ...(input.mattingType !== undefined && {
      mattingType: oneOf("matting_type", input.mattingType, MATTING_TYPES),
    }),
    ...(input.modelResolution !== undefined && {
      modelResolution: oneOf("model_resolution", input.modelResolution, MODEL_RESOLUTIONS),
    }),
    ...(options !== undefined && { options }),
  };
  const now = ctx.now();
  await ctx.database.db.transaction().execute(async (trx) => {
    if (!(await updateJobFields(trx, current.job, current.version, edit, now))) {
      throw new DoppelError(
        "CONFLICT",
        `Job ${jobId} was changed by another request at the same time; read it again and retry`,
      );
    }
    await appendOperationLog(trx, job.id, userLog(now, "UPDATE_JOB", "Job updated by the user"));
  });
  const updated = await requireJob(ctx, caller, jobId);
  return { job: updated, options: options ?? oldOptions, created: false };
}

/** Deletes one of the caller's jobs, in the states MetaStudio allows. */
export async function deleteJob(ctx: ServiceContext, caller: Caller, jobId: string): Promise<void> {
  const job = await requireJob(ctx, caller, jobId);
  if (!(DELETABLE_STATES as readonly string[]).includes(job.state)) {
    throw new DoppelError(
      "INVALID_STATE",
      `Job ${job.id} is in state ${job.state} and cannot be deleted now; it can be deleted in ${DELETABLE_STATES.join(", ")}`,
    );
  }
  // Row first: once it is gone no upload URL can add files, so the sweep below leaves nothing behind.
  await deleteJobRow(ctx.database.db, job.projectId, job.id);
  await ctx.blobs.deletePrefix(jobPrefix(job.id));
}

/** The caller's job (narrowed to its end user when X-App-UserId was sent), or JOB_NOT_FOUND. */
export async function requireJob(ctx: ServiceContext, caller: Caller, jobId: string): Promise<Job> {
  const job = isHexId(jobId) ? await findJob(ctx.database.db, caller.principal.projectId, jobId) : undefined;
  if (!job || (caller.appUserId !== undefined && job.appUserId !== caller.appUserId)) {
    throw new DoppelError("JOB_NOT_FOUND", `No job ${JSON.stringify(jobId.slice(0, 64))} in this project`);
  }
  return job;
}

function userLog(now: number, logType: string, description: string): OperationLog {
  return {
    operateTime: now,
    operateUser: "USER",
    logType,
    logDescription: description,
    errorCode: null,
    redoReasons: [],
  };
}

function checkOptions(options: JobOptions): JobOptions {
  const count = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw invalidParameter(name, `must be a whole number from ${min} to ${max}`);
    }
  };
  count("video_multipart_count", options.videoMultipartCount, 1, 1000);
  count("action_video_multipart_count", options.actionVideoMultipartCount, 0, 1000);
  if (options.commandMessage !== undefined) checkText("command_message", options.commandMessage, 64);
  return options;
}

/** Signed upload URLs for every slot of a job, valid for FILE_URL_TTL_MS (see direct-uploads.ts). */
export interface UploadUrls {
  readonly trainingVideo: string[];
  readonly actionVideo: string[];
  readonly grantFile: string;
  readonly cover: string;
  readonly audio: string;
}

export async function uploadUrls(
  ctx: ServiceContext,
  jobId: string,
  options: JobOptions,
  origin: string,
): Promise<UploadUrls> {
  const put = (slot: FileSlot, part?: number) =>
    uploadUrl(
      ctx,
      part === undefined ? incomingKey(jobId, slot) : partKey(jobId, slot, part),
      uploadPath(jobId, slot, part),
      origin,
    );
  const parts = (slot: FileSlot, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => put(slot, i + 1)));
  const [trainingVideo, actionVideo, grantFile, cover, audio] = await Promise.all([
    parts("training-video", options.videoMultipartCount),
    parts("action-video", options.actionVideoMultipartCount),
    put("grant-file"),
    put("cover"),
    put("audio"),
  ]);
  return { trainingVideo, actionVideo, grantFile, cover, audio };
}

/**
 * Signed download URLs of the job's whole files, by slot, valid for FILE_URL_TTL_MS: the blob store's
 * own presigned URLs when it has them (S3), else Doppel's (`origin` + `/downloads/…`).
 */
export async function downloadUrls(
  ctx: ServiceContext,
  jobId: string,
  origin: string,
): Promise<Partial<Record<FileSlot, string>>> {
  const until = ctx.now() + FILE_URL_TTL_MS;
  const files = await listJobFiles(ctx.database.db, jobId);
  const urls = await Promise.all(
    files.map(async (f) => {
      const url = ctx.blobs.presignGet
        ? await ctx.blobs.presignGet(f.blobKey, FILE_URL_TTL_MS / 1000)
        : origin + ctx.urls.sign("GET", downloadPath(jobId, f.slot), until);
      return [f.slot, url] as const;
    }),
  );
  return Object.fromEntries(urls);
}

/**
 * Signed cover download URLs of listed jobs that have a cover (uploaded, or picked by preprocessing),
 * by job id: the list shows `cover_download_url` like Show does.
 */
export async function coverUrls(
  ctx: ServiceContext,
  jobIds: readonly string[],
  origin: string,
): Promise<Map<string, string>> {
  const keys = await findSlotBlobKeys(ctx.database.db, jobIds, "cover");
  if (keys.size === 0) return new Map();
  const until = ctx.now() + FILE_URL_TTL_MS;
  const urls = await Promise.all(
    [...keys].map(async ([jobId, blobKey]) => {
      const url = ctx.blobs.presignGet
        ? await ctx.blobs.presignGet(blobKey, FILE_URL_TTL_MS / 1000)
        : origin + ctx.urls.sign("GET", downloadPath(jobId, "cover"), until);
      return [jobId, url] as const;
    }),
  );
  return new Map(urls);
}

/** A job's whole file for a signed download URL: its content type, size and a stream of it. */
export async function openJobFile(
  ctx: ServiceContext,
  jobId: string,
  slot: FileSlot,
): Promise<{ contentType: string; size: number; sha256: string; stream: Readable }> {
  const file = isHexId(jobId)
    ? (await listJobFiles(ctx.database.db, jobId)).find((f) => f.slot === slot)
    : undefined;
  if (!file) throw new DoppelError("JOB_NOT_FOUND", `Job ${jobId.slice(0, 64)} has no ${slot} file`);
  return {
    contentType: file.contentType,
    size: file.size,
    sha256: file.sha256,
    stream: await ctx.blobs.get(file.blobKey),
  };
}

/** The creation options of listed jobs (ICE shows some of them in its list), by job id. */
export function optionsOfJobs(ctx: ServiceContext, jobs: readonly Job[]): Promise<Map<string, JobOptions>> {
  return findJobOptionsOf(
    ctx.database.db,
    jobs.map((job) => job.id),
  );
}
