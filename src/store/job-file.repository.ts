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
