import type { Kysely, Selectable, Transaction } from "kysely";
import type { IceJobFields } from "../domain/job-options.js";
import { parseJobOptions } from "./job-options-json.js";
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

/** What ICE shows of a trained avatar: the job that made it, with the job's ICE fields. */
export interface AvatarRecord {
  readonly assetId: string;
  readonly jobId: string;
  readonly name: string;
  readonly description: string | null;
  readonly avatarType: string;
  readonly modelResolution: string;
  /** Portrait, Thumbnail and Transparent, as given to the job. */
  readonly ice: IceJobFields;
}

const AVATAR_COLUMNS = [
  "id",
  "asset_id",
  "name",
  "description",
  "avatar_type",
  "model_resolution",
  "options",
] as const;

/** Who may see an avatar: a project, narrowed to one end user when one is named. */
export interface AvatarScope {
  readonly projectId: string;
  readonly appUserId?: string | undefined;
}

/** The avatar with this asset id in the project (served by `jobs_project_asset`), or undefined. */
export async function findAvatar(
  db: Executor,
  scope: AvatarScope,
  assetId: string,
): Promise<AvatarRecord | undefined> {
  let query = db
    .selectFrom("jobs")
    .select(AVATAR_COLUMNS)
    .where("project_id", "=", scope.projectId)
    .where("asset_id", "=", assetId);
  if (scope.appUserId !== undefined) query = query.where("app_user_id", "=", scope.appUserId);
  const row = await query.orderBy("create_time").orderBy("id").executeTakeFirst();
  return row && avatarOf(row);
}

/**
 * One page of a project's avatars (jobs with an asset id), newest first, and how many there are. The
 * page walks `jobs_project_create` backwards; the count reads only `jobs_project_asset`.
 */
export async function listAvatars(
  db: Executor,
  scope: AvatarScope & { readonly avatarType?: string | undefined },
  page: { readonly offset: number; readonly limit: number },
): Promise<{ count: number; avatars: AvatarRecord[] }> {
  let rows = db
    .selectFrom("jobs")
    .select(AVATAR_COLUMNS)
    .where("project_id", "=", scope.projectId)
    .where("asset_id", "is not", null);
  let count = db
    .selectFrom("jobs")
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .where("project_id", "=", scope.projectId)
    .where("asset_id", "is not", null);
  if (scope.appUserId !== undefined) {
    rows = rows.where("app_user_id", "=", scope.appUserId);
    count = count.where("app_user_id", "=", scope.appUserId);
  }
  if (scope.avatarType !== undefined) {
    rows = rows.where("avatar_type", "=", scope.avatarType);
    count = count.where("avatar_type", "=", scope.avatarType);
  }
  const [found, counted] = await Promise.all([
    rows.orderBy("create_time", "desc").orderBy("id", "desc").limit(page.limit).offset(page.offset).execute(),
    count.executeTakeFirstOrThrow(),
  ]);
  return { count: Number(counted.count), avatars: found.map(avatarOf) };
}

function avatarOf(row: {
  id: string;
  asset_id: string | null;
  name: string;
  description: string | null;
  avatar_type: string;
  model_resolution: string;
  options: string;
}): AvatarRecord {
  return {
    assetId: row.asset_id ?? "",
    jobId: row.id,
    name: row.name,
    description: row.description,
    avatarType: row.avatar_type,
    modelResolution: row.model_resolution,
    ice: parseJobOptions(row.options).ice ?? {},
  };
}
