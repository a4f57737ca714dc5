import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { Transaction } from "kysely";
import { BlobTooLargeError, type StoredBlob } from "../blobs/blob-store.js";
import { DoppelError } from "../domain/errors.js";
import type { FileSlot } from "../domain/job-files.js";
import { UPLOAD_STATES } from "../domain/job-rules.js";
import type { JobState } from "../domain/states.js";
import { findJobById } from "../store/job.repository.js";
import { claimJobInStates, type JobFile, listJobFiles, upsertJobFile } from "../store/job-file.repository.js";
import { appendOperationLog } from "../store/operation-log.repository.js";
import type { DatabaseSchema } from "../store/schema.js";
import type { ServiceContext } from "./context.js";

/** Where a job's files live in the blob store. Deleting `jobPrefix` removes them all. */
export function jobPrefix(jobId: string): string {
  return `jobs/${jobId}/`;
}

export function slotPartsPrefix(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/parts/`;
}

/** Part keys are zero-padded so the store lists them in part order. */
export function partKey(jobId: string, slot: FileSlot, part: number): string {
  return `${slotPartsPrefix(jobId, slot)}${String(part).padStart(5, "0")}`;
}

export function partNumberOf(key: string): number | undefined {
  const match = /\/parts\/(\d{5})$/.exec(key);
  return match ? Number(match[1]) : undefined;
}

/**
 * A new key for one version of a slot's whole file (an assembled video or a single upload). Every write
 * gets a key of its own and the job's record is switched to it in the transaction that checks the
 * job's state, so a blob a job points to is never overwritten: a write that loses a race with a
 * submission changes nothing the submitted job refers to.
 */
export function newSlotFileKey(jobId: string, slot: FileSlot): string {
  return `${slotVersionsPrefix(jobId, slot)}${randomUUID().replaceAll("-", "")}`;
}

function slotVersionsPrefix(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/files/`;
}

/** Where a job keeps its copies of media files (ICE `Video`, `ConsentMedia`), one key per copy, under the media's id. */
export function mediaCopyPrefix(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/media/`;
}

/** Where a single file uploaded straight to the blob store waits until Doppel adopts it (direct-uploads.ts). */
export function incomingKey(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/incoming`;
}

/** Stores an upload under `key`, refusing (FILE_TOO_LARGE) past the configured limit. */
export async function putWithinLimit(
  ctx: ServiceContext,
  key: string,
  body: Readable,
  contentType?: string,
): Promise<StoredBlob> {
  try {
    return await ctx.blobs.put(key, body, {
      maxBytes: ctx.config.maxUploadBytes,
      ...(contentType !== undefined && { contentType }),
    });
  } catch (error) {
    if (error instanceof BlobTooLargeError) {
      throw new DoppelError(
        "FILE_TOO_LARGE",
        `The upload is larger than the limit of ${ctx.config.maxUploadBytes} bytes`,
      );
    }
    throw error;
  }
}

/** What recording a job file did. */
export type RecordOutcome = "recorded" | "unchanged";

export interface RecordOptions {
  /** States in which the job takes this file; default UPLOAD_STATES. */
  readonly allowedStates?: readonly JobState[];
  /** The file the job has now needs no change (the same media attached again): keep it, record nothing. */
  readonly unchangedIf?: (current: JobFile) => boolean;
}

/**
 * Makes a stored blob (written under a key of its own, see newSlotFileKey) the whole file of a job's
 * slot, with its history entry, in one transaction that first claims the job in one of the allowed
 * states. Refused (INVALID_STATE, or JOB_NOT_FOUND when it was deleted), the new blob is removed and the
 * job keeps its files exactly as they were. Recorded, the version it replaced is removed: nothing
 * refers to it any more.
 */
export async function recordJobFile(
  ctx: ServiceContext,
  jobId: string,
  slot: FileSlot,
  stored: StoredBlob,
  contentType: string,
  log: { readonly logType: string; readonly description: string },
  options: RecordOptions = {},
): Promise<RecordOutcome> {
  const allowed = options.allowedStates ?? UPLOAD_STATES;
  const now = ctx.now();
  let outcome: { kind: "recorded"; replaced?: string } | { kind: "unchanged" } | { kind: "refused" };
  try {
    outcome = await ctx.database.db.transaction().execute(async (trx) => {
      // Bumping the job's version locks its row (PostgreSQL) for this transaction, so history entries
      // cannot race for the same sequence number, and a state change read before this file landed fails
      // its version check instead of acting on stale files.
      if (!(await claimJobInStates(trx, jobId, allowed, now))) return { kind: "refused" } as const;
      const current = (await listJobFiles(trx, jobId)).find((f) => f.slot === slot);
      if (current && options.unchangedIf?.(current)) return { kind: "unchanged" } as const;
      const replaced = await recordJobFileIn(trx, jobId, { slot, stored, contentType, log }, now);
      return { kind: "recorded", ...(replaced !== undefined && { replaced }) } as const;
    });
  } catch (error) {
    await ctx.blobs.delete(stored.key);
    throw error;
  }
  if (outcome.kind === "recorded") {
    await deleteReplacedVersions(ctx, jobId, [outcome.replaced]);
    return "recorded";
  }
  await ctx.blobs.delete(stored.key);
  if (outcome.kind === "unchanged") return "unchanged";
  const job = await findJobById(ctx.database.db, jobId);
  throw job
    ? new DoppelError(
        "INVALID_STATE",
        `Job ${jobId} is in state ${job.state}; its ${slot} can be changed only in ${allowed.join(", ")}, so this one was not recorded`,
      )
    : new DoppelError("JOB_NOT_FOUND", `No job ${jobId}`);
}

/** A stored blob on its way to becoming a job's file, with the history entry that says so. */
export interface NewJobFile {
  readonly slot: FileSlot;
  readonly stored: StoredBlob;
  readonly contentType: string;
  readonly log: { readonly logType: string; readonly description: string };
}

/**
 * Inside a transaction that has claimed the job (its version bumped, so the row is locked), records
 * `file` as the job's file in its slot with its history entry. Returns the key of the version it
 * replaced, for deleteReplacedVersions once the transaction has committed.
 */
export async function recordJobFileIn(
  trx: Transaction<DatabaseSchema>,
  jobId: string,
  file: NewJobFile,
  now: number,
): Promise<string | undefined> {
  const current = (await listJobFiles(trx, jobId)).find((f) => f.slot === file.slot);
  await upsertJobFile(trx, jobId, {
    slot: file.slot,
    blobKey: file.stored.key,
    size: file.stored.size,
    sha256: file.stored.sha256,
    etag: file.stored.etag,
    contentType: file.contentType,
    uploadTime: now,
  });
  await appendOperationLog(trx, jobId, {
    operateTime: now,
    operateUser: "USER",
    logType: file.log.logType,
    logDescription: file.log.description,
    errorCode: null,
    redoReasons: [],
  });
  return current?.blobKey === file.stored.key ? undefined : current?.blobKey;
}

/** Deletes file versions a committed change replaced: nothing refers to them any more. */
export async function deleteReplacedVersions(
  ctx: ServiceContext,
  jobId: string,
  keys: ReadonlyArray<string | undefined>,
): Promise<void> {
  for (const key of keys) {
    if (key !== undefined && isUploadVersion(jobId, key)) await ctx.blobs.delete(key);
  }
}

/**
 * Whether `key` is one of the job's own file versions (an upload or a copy of a media), which the job
 * alone refers to. Pipeline outputs (the picked cover) live elsewhere and are the pipeline's to replace.
 */
function isUploadVersion(jobId: string, key: string): boolean {
  const slot = key.slice(jobPrefix(jobId).length).split("/")[0] as FileSlot;
  return key.startsWith(slotVersionsPrefix(jobId, slot)) || key.startsWith(mediaCopyPrefix(jobId, slot));
}
