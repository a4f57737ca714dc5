import { DoppelError } from "../domain/errors.js";
import { ICE_STATUS_STATES, type IceStatus } from "../domain/ice-status.js";
import type { Job } from "../domain/job.js";
import type { IceJobFields, JobOptions } from "../domain/job-options.js";
import { MAY_DELETE_ICE, MAY_EDIT_ICE, MAY_UPLOAD, requireState } from "../domain/job-rules.js";
import { checkText } from "../domain/text.js";
import { type AvatarRecord, findAvatar, listAvatars as listAvatarRows } from "../store/asset.repository.js";
import { findJobOptionsOf } from "../store/job.repository.js";
import { type JobFile, listJobFiles } from "../store/job-file.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { deleteReplacedVersions, recordJobFileIn } from "./job-blobs.js";
import { submitForVerification } from "./job-commands.service.js";
import { coverUrls } from "./job-files.service.js";
import {
  checkedEdit,
  createOnce,
  deleteJob,
  insertNewJob,
  type JobDetail,
  newJob,
  readJobDetail,
  requireVersionedJob,
  saveEdit,
} from "./jobs.service.js";
import { listJobs } from "./list-jobs.service.js";
import {
  copyMediaForJob,
  type MediaCopy,
  type ReadyMedia,
  requireConsentMedia,
  requireReadyMedia,
  trainingVideoMediaId,
} from "./media.service.js";

/**
 * Alibaba ICE's avatar-training use cases, each one call from its action and one transaction. ICE names
 * a job's files by media id (`Video`, `ConsentMedia`): the media's bytes are copied under the job first
 * and recorded in the same transaction as the job's create or edit, so a job never exists, or changes,
 * without the files its request named — and a refused request leaves neither the change nor the copies.
 */

/** An ICE create or update after the dialect has parsed its parameters; absent stays as it is. */
export interface IceJobInput {
  readonly name?: string | undefined;
  readonly description?: string | undefined;
  readonly avatarType?: string | undefined;
  /** MediaIds of a READY video and consent media. */
  readonly video?: string | undefined;
  readonly consent?: string | undefined;
  /** MediaId of a READY image; "" clears it (update). */
  readonly portrait?: string | undefined;
  /** An http(s) URL; "" clears it (update). */
  readonly thumbnail?: string | undefined;
  readonly transparent?: boolean | undefined;
}

/** CreateAvatarTrainingJob: the new job's id, or that of the job its client token made before. */
export async function createIceJob(
  ctx: ServiceContext,
  caller: Caller,
  input: IceJobInput & { readonly name: string; readonly clientToken?: string | undefined },
): Promise<string> {
  // Everything is checked before anything is written: a bad Video leaves no job behind.
  const named = await namedMedia(ctx, caller, input);
  const fresh = newJob(
    caller,
    {
      name: input.name,
      description: input.description,
      avatarType: input.avatarType,
      clientToken: input.clientToken,
      options: { ice: iceFields({}, input) },
    },
    ctx.now(),
  );
  let copies: MediaCopy[] = [];
  const created = await createOnce(
    ctx,
    fresh,
    async (trx) => {
      await insertNewJob(trx, fresh);
      for (const copy of copies) await recordJobFileIn(trx, fresh.job.id, copy, fresh.job.createTime);
    },
    async () => {
      copies = await copyNamedMedia(ctx, fresh.job.id, named, []);
    },
    () => deleteCopies(ctx, copies),
  );
  return created.job.id;
}

/** UpdateAvatarTrainingJob: in Init or Fail; a new Video or ConsentMedia only where the job takes files. */
export async function updateIceJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  input: IceJobInput,
): Promise<void> {
  const current = await requireVersionedJob(ctx, caller, jobId);
  requireState(current.job, MAY_EDIT_ICE, "UpdateAvatarTrainingJob");
  if (input.video !== undefined || input.consent !== undefined) {
    // What a job was checked on must be what it trains on: files change only before (re)submission.
    requireState(current.job, MAY_UPLOAD, "replacing its Video or ConsentMedia");
  }
  const named = await namedMedia(ctx, caller, input);
  const { edit } = checkedEdit(
    {
      name: input.name,
      description: input.description,
      options: { ice: iceFields(current.options.ice ?? {}, input) } satisfies Partial<JobOptions>,
    },
    current.options,
  );
  const copies = await copyNamedMedia(ctx, jobId, named, await listJobFiles(ctx.database.db, jobId));
  const now = ctx.now();
  let replaced: Array<string | undefined>;
  try {
    replaced = await ctx.database.db.transaction().execute(async (trx) => {
      const keys: Array<string | undefined> = [];
      await saveEdit(trx, current, edit, now, async () => {
        for (const copy of copies) keys.push(await recordJobFileIn(trx, jobId, copy, now));
      });
      return keys;
    });
  } catch (error) {
    await deleteCopies(ctx, copies);
    throw error;
  }
  await deleteReplacedVersions(ctx, jobId, replaced);
}

/** SubmitAvatarTrainingJob: the same rule and checks as MetaStudio's SUBMITVERIFYING, worded for ICE. */
export async function submitIceJob(ctx: ServiceContext, caller: Caller, jobId: string): Promise<void> {
  const current = await requireVersionedJob(ctx, caller, jobId);
  await submitForVerification(ctx, current, {
    action: "SubmitAvatarTrainingJob",
    noVideo: new DoppelError(
      "INVALID_FILE",
      `Job ${current.job.id} has no training video yet: upload one with CreateUploadMedia and pass its MediaId as Video to CreateAvatarTrainingJob or UpdateAvatarTrainingJob`,
    ),
  });
}

/** GetAvatarTrainingJob: the job, its history, and the media its training video is a copy of (if any). */
export async function getIceJob(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  origin: string,
): Promise<{ detail: JobDetail; videoMediaId: string | undefined; coverUrl: string | undefined }> {
  const detail = await readJobDetail(ctx, caller, jobId);
  const [videoMediaId, covers] = await Promise.all([
    trainingVideoMediaId(ctx, detail.job.id),
    coverUrls(ctx, [detail.job.id], origin),
  ]);
  return { detail, videoMediaId, coverUrl: covers.get(detail.job.id) };
}

/** DeleteAvatarTrainingJob: in Init or Fail only (and never where MetaStudio would refuse). */
export function deleteIceJob(ctx: ServiceContext, caller: Caller, jobId: string): Promise<void> {
  return deleteJob(ctx, caller, jobId, MAY_DELETE_ICE, "DeleteAvatarTrainingJob");
}

/** One listed job with its ICE fields. */
export interface IceListedJob {
  readonly job: Job;
  readonly ice: IceJobFields;
}

/** ListAvatarTrainingJobs: newest first (ICE documents no order; its console shows newest first). */
export async function listIceJobs(
  ctx: ServiceContext,
  caller: Caller,
  query: { readonly offset: number; readonly limit: number; readonly status?: IceStatus | undefined },
): Promise<{ count: number; jobs: IceListedJob[] }> {
  const { count, jobs } = await listJobs(ctx, caller, {
    offset: query.offset,
    limit: query.limit,
    sortKey: "create_time",
    sortDir: "desc",
    states: query.status === undefined ? undefined : ICE_STATUS_STATES[query.status],
  });
  const options = await findJobOptionsOf(
    ctx.database.db,
    jobs.map((job) => job.id),
  );
  return { count, jobs: jobs.map((job) => ({ job, ice: options.get(job.id)?.ice ?? {} })) };
}

/** The media a request names, each checked to be READY, of the caller's project and of the right kind. */
interface NamedMedia {
  readonly video?: ReadyMedia | undefined;
  readonly consent?: ReadyMedia | undefined;
  readonly portrait?: ReadyMedia | undefined;
}

async function namedMedia(ctx: ServiceContext, caller: Caller, input: IceJobInput): Promise<NamedMedia> {
  const given = (id: string | undefined) => id !== undefined && id !== "";
  return {
    video: given(input.video)
      ? await requireReadyMedia(ctx, caller, input.video as string, "video", "Video")
      : undefined,
    consent: given(input.consent)
      ? await requireConsentMedia(ctx, caller, input.consent as string)
      : undefined,
    portrait: given(input.portrait)
      ? await requireReadyMedia(ctx, caller, input.portrait as string, "image", "Portrait")
      : undefined,
  };
}

/** Copies the named video and consent under the job, skipping any the job already has. */
async function copyNamedMedia(
  ctx: ServiceContext,
  jobId: string,
  named: NamedMedia,
  files: readonly JobFile[],
): Promise<MediaCopy[]> {
  const copies: MediaCopy[] = [];
  const wanted = [
    ["training-video", named.video],
    ["grant-file", named.consent],
  ] as const;
  try {
    for (const [slot, media] of wanted) {
      if (media === undefined) continue;
      const copy = await copyMediaForJob(
        ctx,
        jobId,
        slot,
        media,
        files.find((f) => f.slot === slot),
      );
      if (copy) copies.push(copy);
    }
  } catch (error) {
    await deleteCopies(ctx, copies);
    throw error;
  }
  return copies;
}

async function deleteCopies(ctx: ServiceContext, copies: readonly MediaCopy[]): Promise<void> {
  for (const copy of copies) await ctx.blobs.delete(copy.stored.key);
}

/** The job's ICE fields once `input` is applied to `current`: absent keeps, "" clears. */
function iceFields(current: IceJobFields, input: IceJobInput): IceJobFields {
  const next: { portrait?: string; thumbnail?: string; transparent?: boolean } = { ...current };
  if (input.portrait !== undefined) next.portrait = input.portrait;
  if (input.thumbnail !== undefined) next.thumbnail = input.thumbnail;
  if (input.transparent !== undefined) next.transparent = input.transparent;
  if (next.portrait === "") delete next.portrait;
  if (next.thumbnail === "") delete next.thumbnail;
  return next;
}

/** A trained avatar as ICE shows it: the job that made it, with its ICE fields. */
export type Avatar = AvatarRecord & { readonly coverUrl: string | undefined };

/** The caller's avatar with this id (a job's asset id); JOB_NOT_FOUND naming the avatar otherwise. */
export async function getAvatar(
  ctx: ServiceContext,
  caller: Caller,
  avatarId: string,
  origin: string,
): Promise<Avatar> {
  // Refuses control characters and malformed Unicode, which PostgreSQL cannot even compare (NUL).
  checkText("AvatarId", avatarId, 1000);
  const record =
    avatarId.length <= 64 ? await findAvatar(ctx.database.db, scopeOf(caller), avatarId) : undefined;
  if (!record) {
    throw new DoppelError(
      "JOB_NOT_FOUND",
      `No avatar ${JSON.stringify(avatarId.slice(0, 64))} in this project`,
    );
  }
  const [avatar] = await withCovers(ctx, [record], origin);
  return avatar as Avatar;
}

/** One page of the caller's avatars, newest first, and how many there are. */
export async function listAvatars(
  ctx: ServiceContext,
  caller: Caller,
  query: { readonly offset: number; readonly limit: number; readonly avatarType?: string | undefined },
  origin: string,
): Promise<{ count: number; avatars: Avatar[] }> {
  const { count, avatars } = await listAvatarRows(
    ctx.database.db,
    { ...scopeOf(caller), avatarType: query.avatarType },
    { offset: query.offset, limit: query.limit },
  );
  return { count, avatars: await withCovers(ctx, avatars, origin) };
}

/** The avatars with the signed URL of their job's cover: ICE's Thumbnail when the user named none. */
async function withCovers(
  ctx: ServiceContext,
  avatars: readonly AvatarRecord[],
  origin: string,
): Promise<Avatar[]> {
  const covers = await coverUrls(
    ctx,
    avatars.map((a) => a.asset.jobId),
    origin,
  );
  return avatars.map((a) => ({ ...a, coverUrl: covers.get(a.asset.jobId) }));
}

function scopeOf(caller: Caller) {
  return { projectId: caller.principal.projectId, appUserId: caller.appUserId };
}
