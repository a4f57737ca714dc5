import type { Transaction } from "kysely";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import { jobCreatedEvent, jobDeletedEvent } from "../domain/events.js";
import {
  isHexId,
  type Job,
  MATTING_TYPES,
  MODEL_RESOLUTIONS,
  MODEL_VERSIONS,
  newJobId,
} from "../domain/job.js";
import { checkTags, oneOf, optionalText, requiredText } from "../domain/job-fields.js";
import type { FileSlot } from "../domain/job-files.js";
import { DEFAULT_JOB_OPTIONS, type JobOptions } from "../domain/job-options.js";
import {
  MAY_DELETE,
  MAY_EDIT_METASTUDIO,
  requireState,
  type StateRule,
  UPLOAD_STATES,
} from "../domain/job-rules.js";
import { withoutUndefined } from "../domain/objects.js";
import type { OperationLog } from "../domain/operation-log.js";
import { checkText } from "../domain/text.js";
import { assetPrefix } from "../pipeline/stages/package.stage.js";
import { deleteAssetsOfJob } from "../store/asset.repository.js";
import { findClientTokenJob, insertClientToken } from "../store/client-token.repository.js";
import { appendEvents } from "../store/event.repository.js";
import {
  deleteJobRow,
  findVersionedJob,
  insertJob,
  type JobEdit,
  updateJobFields,
  type VersionedJob,
} from "../store/job.repository.js";
import { appendOperationLog, listOperationLogs } from "../store/operation-log.repository.js";
import type { DatabaseSchema } from "../store/schema.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { adoptDirectUploads } from "./direct-uploads.js";
import { jobPrefix } from "./job-blobs.js";
import { downloadUrls, type UploadUrls, uploadUrls } from "./job-files.service.js";

/**
 * A training job's use cases as MetaStudio has them (create, show, update, delete), and the pieces the
 * ICE dialect's use cases (ice-jobs.service.ts) build theirs from: the checked new job, its insert,
 * the client-token rule, the checked edit.
 */

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

/** A job with the signed URLs to upload its files to. */
export interface JobWithUploadUrls {
  readonly job: Job;
  readonly uploadUrls: UploadUrls;
}

/** Creates a job in WAIT_FILE_UPLOAD, or answers the one an earlier request with the same token made. */
export async function createJob(
  ctx: ServiceContext,
  caller: Caller,
  input: CreateJobInput,
  origin: string,
): Promise<JobWithUploadUrls> {
  const fresh = newJob(caller, input, ctx.now());
  const { job, options } = await createOnce(ctx, fresh, (trx) => insertNewJob(trx, fresh));
  return { job, uploadUrls: await uploadUrls(ctx, job.id, options, origin) };
}

/** A checked job about to be created, with what its insert needs. */
export interface NewJob {
  readonly job: Job;
  readonly options: JobOptions;
  readonly clientToken: string | undefined;
}

/** Checks a create request and makes the job it asks for (not stored yet). */
export function newJob(caller: Caller, input: CreateJobInput, now: number): NewJob {
  const clientToken =
    input.clientToken === undefined ? undefined : checkText("client_token", input.clientToken, 128);
  const options = checkOptions({ ...DEFAULT_JOB_OPTIONS, ...input.options });
  const job: Job = {
    id: newJobId(now),
    projectId: caller.principal.projectId,
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
  return { job, options, clientToken };
}

/** Inserts a new job with its client token and first history entry; run inside the create's transaction. */
export async function insertNewJob(trx: Transaction<DatabaseSchema>, fresh: NewJob): Promise<void> {
  const { job, options, clientToken } = fresh;
  await insertJob(trx, job, { options, clientToken: clientToken ?? null });
  if (clientToken !== undefined) {
    await insertClientToken(trx, {
      projectId: job.projectId,
      clientToken,
      jobId: job.id,
      createTime: job.createTime,
    });
  }
  await appendOperationLog(
    trx,
    job.id,
    userLog(job.createTime, "CREATE_JOB", "Job created; waiting for its files"),
  );
  await appendEvents(trx, job.projectId, [jobCreatedEvent(job)], job.createTime);
}

/** A job as created: the new one, or the one its client token made before. */
export interface CreatedJob {
  readonly job: Job;
  readonly options: JobOptions;
  /** False when the client token named a job created before. */
  readonly created: boolean;
}

/**
 * Creates `fresh` in one transaction run by `insert`, unless its client token made a job before: then
 * that job is the answer, and so it is when two creates with one token race (the unique index lets one
 * through). `prepare` runs only for a create that goes ahead (ICE copies its media there), and
 * `cleanUp` removes what it prepared when the insert fails; `insert` itself leaves nothing behind.
 */
export async function createOnce(
  ctx: ServiceContext,
  fresh: NewJob,
  insert: (trx: Transaction<DatabaseSchema>) => Promise<void>,
  prepare: () => Promise<void> = async () => {},
  cleanUp: () => Promise<void> = async () => {},
): Promise<CreatedJob> {
  const { projectId } = fresh.job;
  const token = fresh.clientToken;
  const earlier = token === undefined ? undefined : await jobOfClientToken(ctx, projectId, token);
  if (earlier) return earlier;
  await prepare();
  try {
    await ctx.database.db.transaction().execute(insert);
  } catch (error) {
    await cleanUp();
    const winner = token === undefined ? undefined : await jobOfClientToken(ctx, projectId, token);
    if (winner) return winner;
    throw error;
  }
  return { job: fresh.job, options: fresh.options, created: true };
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
  const found = await findVersionedJob(ctx.database.db, projectId, jobId);
  if (found) return { job: found.job, options: found.options, created: false };
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
export async function readJobDetail(ctx: ServiceContext, caller: Caller, jobId: string): Promise<JobDetail> {
  let current = await requireVersionedJob(ctx, caller, jobId);
  // Adopting a file bumps the job's version and update time: read it again only then.
  if (UPLOAD_STATES.includes(current.job.state) && (await adoptDirectUploads(ctx, jobId, "lenient"))) {
    current = await requireVersionedJob(ctx, caller, jobId);
  }
  const { job, options } = current;
  return { job, options, logs: await listOperationLogs(ctx.database.db, job.id) };
}

/** A job's detail with signed download URLs of its files, by slot. */
export interface ShownJob extends JobDetail {
  readonly downloadUrls: Partial<Record<FileSlot, string>>;
}

/** MetaStudio's Show: the detail and where to download each of the job's files. */
export async function showJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  origin: string,
): Promise<ShownJob> {
  const detail = await readJobDetail(ctx, caller, jobId);
  return { ...detail, downloadUrls: await downloadUrls(ctx, detail.job.id, origin) };
}

/** A user edit; absent fields stay as they are. */
export type UpdateJobInput = Omit<CreateJobInput, "clientToken" | "name"> & {
  readonly name?: string | undefined;
};

/** MetaStudio's Update: edits one of the caller's jobs after a failed check, to fix and resubmit it. */
export async function updateJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  input: UpdateJobInput,
  origin: string,
): Promise<JobWithUploadUrls> {
  const current = await requireVersionedJob(ctx, caller, jobId);
  requireState(current.job, MAY_EDIT_METASTUDIO, "updating it");
  const { edit, options } = checkedEdit(input, current.options);
  const now = ctx.now();
  await ctx.database.db.transaction().execute((trx) => saveEdit(trx, current, edit, now));
  return {
    job: editedJob(current.job, edit, now),
    uploadUrls: await uploadUrls(ctx, jobId, options, origin),
  };
}

/** The checked edit an update asks for, and the job's options once it is applied. */
export function checkedEdit(
  input: UpdateJobInput,
  oldOptions: JobOptions,
): { edit: JobEdit; options: JobOptions } {
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
  return { edit, options: options ?? oldOptions };
}

/**
 * Inside a transaction: applies an edit to the job as it was read (optimistic concurrency: CONFLICT if
 * anything changed it since), runs `alongside` (ICE records the files the edit names there), then
 * writes the edit's history entry. The version bump locks the row for the rest of the transaction
 * (PostgreSQL), so what `alongside` records serializes with concurrent changes.
 */
export async function saveEdit(
  trx: Transaction<DatabaseSchema>,
  current: VersionedJob,
  edit: JobEdit,
  now: number,
  alongside: () => Promise<void> = async () => {},
): Promise<void> {
  if (!(await updateJobFields(trx, current.job, current.version, edit, now))) {
    throw new DoppelError(
      "CONFLICT",
      `Job ${current.job.id} was changed by another request at the same time; read it again and retry`,
    );
  }
  await alongside();
  await appendOperationLog(trx, current.job.id, userLog(now, "UPDATE_JOB", "Job updated by the user"));
}

/** The job as an edit saved at `now` leaves it. */
export function editedJob(job: Job, edit: JobEdit, now: number): Job {
  const { options: _options, ...fields } = edit;
  return { ...job, ...fields, updateTime: now };
}

/** Deletes one of the caller's jobs if `rule` allows it (MetaStudio's unless a dialect has its own). */
export async function deleteJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  rule: StateRule = MAY_DELETE,
  action = "deleting it",
): Promise<void> {
  const job = await requireJob(ctx, caller, jobId);
  requireState(job, rule, action);
  // Rows first: once they are gone no upload URL can add files and no listing offers the asset's, so
  // the sweeps below leave nothing reachable. The asset goes with its job, as MetaStudio's does.
  await ctx.database.db.transaction().execute(async (trx) => {
    // A delete that lost a race with another says nothing: the winner announced it.
    if (!(await deleteJobRow(trx, job.projectId, job.id))) return;
    await deleteAssetsOfJob(trx, job.id);
    await appendEvents(trx, job.projectId, [jobDeletedEvent(job)], ctx.now());
  });
  await ctx.blobs.deletePrefix(jobPrefix(job.id));
  if (job.assetId !== null) await ctx.blobs.deletePrefix(assetPrefix(job.assetId));
}

/** The caller's job (narrowed to its end user when X-App-UserId was sent), or JOB_NOT_FOUND. */
export async function requireJob(ctx: ServiceContext, caller: Caller, jobId: string): Promise<Job> {
  return (await requireVersionedJob(ctx, caller, jobId)).job;
}

/** requireJob with what a change needs: the job's version and options. */
export async function requireVersionedJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
): Promise<VersionedJob> {
  const found = isHexId(jobId)
    ? await findVersionedJob(ctx.database.db, caller.principal.projectId, jobId)
    : undefined;
  if (!found || (caller.appUserId !== undefined && found.job.appUserId !== caller.appUserId)) {
    throw new DoppelError("JOB_NOT_FOUND", `No job ${JSON.stringify(jobId.slice(0, 64))} in this project`);
  }
  return found;
}

/** A history entry for something the user did. */
export function userLog(now: number, logType: string, description: string): OperationLog {
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
