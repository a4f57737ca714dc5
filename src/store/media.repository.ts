import type { Kysely, Selectable, Transaction } from "kysely";
import type { DatabaseSchema, MediaTable } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** An uploaded file as stored; the content fields are null until the upload has arrived. */
export interface MediaRecord {
  readonly id: string;
  readonly projectId: string;
  readonly mediaType: string;
  readonly fileName: string | null;
  readonly state: "UPLOADING" | "READY";
  readonly blobKey: string | null;
  readonly size: number | null;
  readonly sha256: string | null;
  readonly etag: string | null;
  readonly mime: string | null;
  readonly createTime: number;
  readonly uploadTime: number | null;
}

/** A media row waiting for its upload. */
export async function insertMedia(
  db: Executor,
  media: { id: string; projectId: string; mediaType: string; fileName: string | null; createTime: number },
): Promise<void> {
  await db
    .insertInto("media")
    .values({
      id: media.id,
      project_id: media.projectId,
      media_type: media.mediaType,
      file_name: media.fileName,
      state: "UPLOADING",
      create_time: media.createTime,
    })
    .execute();
}

/** One media by id (any project: the signed upload URL is the credential), or undefined. */
export async function findMedia(db: Executor, mediaId: string): Promise<MediaRecord | undefined> {
  const row = await db.selectFrom("media").selectAll().where("id", "=", mediaId).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/**
 * Records the arrived content if the media is still UPLOADING; false when another upload finished
 * first (a READY media never changes, so what a job copied from it stays what the id names).
 */
export async function markMediaReady(
  db: Executor,
  mediaId: string,
  content: { blobKey: string; size: number; sha256: string; etag: string; mime: string; uploadTime: number },
): Promise<boolean> {
  const result = await db
    .updateTable("media")
    .set({
      state: "READY",
      blob_key: content.blobKey,
      size: content.size,
      sha256: content.sha256,
      etag: content.etag,
      mime: content.mime,
      upload_time: content.uploadTime,
    })
    .where("id", "=", mediaId)
    .where("state", "=", "UPLOADING")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

function fromRow(row: Selectable<MediaTable>): MediaRecord {
  return {
    id: row.id,
    projectId: row.project_id,
    mediaType: row.media_type,
    fileName: row.file_name,
    state: row.state === "READY" ? "READY" : "UPLOADING",
    blobKey: row.blob_key,
    size: row.size === null ? null : Number(row.size),
    sha256: row.sha256,
    etag: row.etag,
    mime: row.mime,
    createTime: Number(row.create_time),
    uploadTime: row.upload_time === null ? null : Number(row.upload_time),
  };
}
