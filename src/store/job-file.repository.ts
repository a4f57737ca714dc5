import type { Kysely, Transaction } from "kysely";
import type { FileSlot } from "../domain/job-files.js";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** A whole file of a job, as stored. */
export interface JobFile {
  readonly slot: FileSlot;
  readonly blobKey: string;
  readonly size: number;
  readonly sha256: string;
  readonly etag: string;
  readonly contentType: string;
  readonly uploadTime: number;
}

/** Records (or replaces) the file of a slot. */
export async function upsertJobFile(db: Executor, jobId: string, file: JobFile): Promise<void> {
  const values = {
    blob_key: file.blobKey,
    size: file.size,
    sha256: file.sha256,
    etag: file.etag,
    content_type: file.contentType,
    upload_time: file.uploadTime,
  };
  await db
    .insertInto("job_files")
    .values({ job_id: jobId, slot: file.slot, ...values })
    .onConflict((oc) => oc.columns(["job_id", "slot"]).doUpdateSet(values))
    .execute();
}

/** The files of a job, by slot. */
export async function listJobFiles(db: Executor, jobId: string): Promise<JobFile[]> {
  const rows = await db
    .selectFrom("job_files")
    .selectAll()
    .where("job_id", "=", jobId)
    .orderBy("slot")
    .execute();
  return rows.map((row) => ({
    slot: row.slot as FileSlot,
    blobKey: row.blob_key,
    size: Number(row.size),
    sha256: row.sha256,
    etag: row.etag,
    contentType: row.content_type,
    uploadTime: Number(row.upload_time),
  }));
}

/**
 * Claims a job for a change that is not a state change (a file, a history entry): bumps its version
 * (and update time) if it is in one of `states`, and answers whether it was. Run it first in the
 * transaction that makes the change: on PostgreSQL the update locks the job row, so the change and its
 * operation log serialize with any concurrent state change (whose optimistic version check then fails
 * instead of submitting a job whose video was swapped underneath it), and two concurrent log appends
 * cannot pick the same `seq`.
 */
export async function claimJobInStates(
  db: Executor,
  jobId: string,
  states: readonly string[],
  updateTime: number,
): Promise<boolean> {
  if (states.length === 0) return false;
  const result = await db
    .updateTable("jobs")
    .set((eb) => ({ version: eb("version", "+", 1), update_time: updateTime }))
    .where("id", "=", jobId)
    .where("state", "in", states)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** The blob key of each listed job's file in `slot`, by job id (one query for a whole page). */
export async function findSlotBlobKeys(
  db: Executor,
  jobIds: readonly string[],
  slot: FileSlot,
): Promise<Map<string, string>> {
  if (jobIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("job_files")
    .select(["job_id", "blob_key"])
    .where("job_id", "in", [...jobIds])
    .where("slot", "=", slot)
    .execute();
  return new Map(rows.map((row) => [row.job_id, row.blob_key]));
}
