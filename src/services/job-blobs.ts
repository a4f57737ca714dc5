import type { Readable } from "node:stream";
import { BlobTooLargeError, type StoredBlob } from "../blobs/blob-store.js";
import { DoppelError } from "../domain/errors.js";
import { UPLOAD_STATES } from "../domain/job-commands.js";
import type { FileSlot } from "../domain/job-files.js";
import { claimJobForFileChange, upsertJobFile } from "../store/job-file.repository.js";
import { appendOperationLog } from "../store/operation-log.repository.js";
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

/** The whole file of a slot: an assembled video or a single upload. */
export function slotFileKey(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/file`;
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

/** Records a stored blob as the whole file of a job's slot, with its history entry, in one transaction. */
export async function recordJobFile(
  ctx: ServiceContext,
  jobId: string,
  slot: FileSlot,
  stored: StoredBlob,
  contentType: string,
  log: { readonly logType: string; readonly description: string },
): Promise<void> {
  const now = ctx.now();
  await ctx.database.db.transaction().execute(async (trx) => {
    // Bumping the job's version locks its row (PostgreSQL) for this transaction, so history entries
    // cannot race for the same sequence number, and a state change read before this file landed fails
    // its version check instead of acting on stale files. A job that left the upload states meanwhile
    // (submitted by a concurrent request) keeps its files as they were.
    if (!(await claimJobForFileChange(trx, jobId, UPLOAD_STATES, now))) {
      throw new DoppelError(
        "INVALID_STATE",
        `Job ${jobId} is no longer waiting for files; the ${slot} was not recorded`,
      );
    }
    await upsertJobFile(trx, jobId, {
      slot,
      blobKey: stored.key,
      size: stored.size,
      sha256: stored.sha256,
      etag: stored.etag,
      contentType,
      uploadTime: now,
    });
    await appendOperationLog(trx, jobId, {
      operateTime: now,
      operateUser: "USER",
      logType: log.logType,
      logDescription: log.description,
      errorCode: null,
      redoReasons: [],
    });
  });
}
