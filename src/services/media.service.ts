import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { StoredBlob } from "../blobs/blob-store.js";
import { sniff } from "../blobs/sniff.js";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import { isHexId, newJobId } from "../domain/job.js";
import { ACCEPTED_TYPES, MEDIA_ACCEPTED_TYPES, type MediaType } from "../domain/job-files.js";
import { checkText } from "../domain/text.js";
import { type JobFile, listJobFiles } from "../store/job-file.repository.js";
import { findMedia, insertMedia, type MediaRecord, markMediaReady } from "../store/media.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { mediaCopyPrefix, type NewJobFile, putWithinLimit } from "./job-blobs.js";
import { signedUrl } from "./signed-urls.js";

/**
 * Media: files uploaded on their own (ICE `CreateUploadMedia`) and then named by id as a training job's
 * `Video` or `Portrait`. A media is created UPLOADING with a signed PUT URL served by Doppel; the first
 * complete upload of an accepted kind makes it READY, and a READY media never changes, so an id always
 * names the same bytes. A job that names a video gets its own copy of the bytes under its prefix: the
 * job's delete sweeps its copy and never the media, and the media outlives any job that used it.
 */

/** The path Doppel serves a media upload at; signed URLs add `expires` and `signature`. */
export function mediaUploadPath(mediaId: string): string {
  return `/uploads/media/${mediaId}`;
}

/** Where a media's file uploaded straight to the blob store (S3) waits until a job names the media. */
function mediaIncomingKey(mediaId: string): string {
  return `media/${mediaId}/incoming`;
}

/** A media waiting for its file, and the signed URL (valid FILE_URL_TTL_MS) to PUT the file to. */
export interface CreatedMedia {
  readonly mediaId: string;
  readonly uploadUrl: string;
}

/** Creates an UPLOADING media in the caller's project. */
export async function createUploadMedia(
  ctx: ServiceContext,
  caller: Caller,
  input: { readonly mediaType: MediaType; readonly fileName?: string | undefined },
  origin: string,
): Promise<CreatedMedia> {
  const now = ctx.now();
  const fileName =
    input.fileName === undefined || input.fileName === "" ? null : checkText("FileName", input.fileName, 255);
  const mediaId = newJobId(now);
  await insertMedia(ctx.database.db, {
    id: mediaId,
    projectId: caller.principal.projectId,
    mediaType: input.mediaType,
    fileName,
    createTime: now,
  });
  return {
    mediaId,
    uploadUrl: await signedUrl(ctx, "PUT", mediaIncomingKey(mediaId), mediaUploadPath(mediaId), origin),
  };
}

/**
 * Streams the file of a media into the blob store. The caller has already checked the signed URL,
 * which binds the media id. The content must be of a kind the media type accepts (magic bytes), at most
 * `maxUploadBytes`. Each upload goes to its own key and only the first complete one is recorded; a
 * later upload of the same bytes (a client retrying after a lost response) answers like the first, as
 * an S3 PUT would, different bytes are refused, and a cut connection leaves nothing behind.
 */
export async function receiveMediaUpload(
  ctx: ServiceContext,
  mediaId: string,
  body: Readable,
): Promise<StoredBlob> {
  const media = isHexId(mediaId) ? await findMedia(ctx.database.db, mediaId) : undefined;
  if (!media) {
    throw new DoppelError("INVALID_PARAMETER", `No media ${mediaId.slice(0, 64)}`);
  }
  const accepted = MEDIA_ACCEPTED_TYPES[media.mediaType as MediaType] ?? [];
  const sniffed = await sniff(body);
  if (sniffed.mime === undefined || !accepted.includes(sniffed.mime)) {
    body.destroy();
    throw new DoppelError(
      "INVALID_FILE",
      `The upload for ${media.mediaType} media ${media.id} is ${sniffed.mime ?? "of an unrecognised type"}; accepted: ${accepted.join(", ")}`,
    );
  }
  const stored = await putWithinLimit(
    ctx,
    `media/${media.id}/${randomUUID().replaceAll("-", "")}`,
    sniffed.stream,
    sniffed.mime,
  );
  const recorded = await markMediaReady(ctx.database.db, media.id, {
    blobKey: stored.key,
    size: stored.size,
    sha256: stored.sha256,
    etag: stored.etag,
    mime: sniffed.mime,
    uploadTime: ctx.now(),
  });
  if (recorded) return stored;
  // An earlier upload of this media is what the id names; ours was only a retry or is refused.
  await ctx.blobs.delete(stored.key);
  const winner = await findMedia(ctx.database.db, media.id);
  if (
    winner?.state === "READY" &&
    winner.sha256 === stored.sha256 &&
    winner.blobKey !== null &&
    winner.etag !== null
  ) {
    return {
      key: winner.blobKey,
      size: winner.size ?? stored.size,
      etag: winner.etag,
      sha256: winner.sha256,
    };
  }
  throw alreadyUploaded(winner ?? media);
}

function alreadyUploaded(media: MediaRecord): DoppelError {
  return new DoppelError(
    "INVALID_STATE",
    `Media ${media.id} is already uploaded${media.sha256 ? ` (sha256 ${media.sha256})` : ""}; a media's file never changes: call CreateUploadMedia for another file`,
  );
}

/** A media whose file is uploaded and checked: it names these bytes for good. */
export type ReadyMedia = MediaRecord & { blobKey: string; sha256: string; mime: string };

/**
 * A READY media of the caller's project of type `type`, named by `parameter` (`Video`, `Portrait`);
 * INVALID_PARAMETER naming that parameter otherwise.
 */
export async function requireReadyMedia(
  ctx: ServiceContext,
  caller: Caller,
  mediaId: string,
  type: MediaType | readonly MediaType[],
  parameter: string,
): Promise<ReadyMedia> {
  const types: readonly MediaType[] = typeof type === "string" ? [type] : type;
  let media = isHexId(mediaId) ? await findMedia(ctx.database.db, mediaId) : undefined;
  if (media?.state === "UPLOADING" && media.projectId === caller.principal.projectId) {
    await adoptDirectMediaUpload(ctx, media, parameter);
    media = await findMedia(ctx.database.db, media.id);
  }
  if (!media || media.projectId !== caller.principal.projectId) {
    throw invalidParameter(
      parameter,
      `no media ${JSON.stringify(mediaId.slice(0, 64))} in this project; upload the file with CreateUploadMedia and pass its MediaId`,
    );
  }
  if (!(types as readonly string[]).includes(media.mediaType)) {
    throw invalidParameter(
      parameter,
      `media ${media.id} is of type ${media.mediaType}; ${parameter} takes ${types.join(" or ")} media`,
    );
  }
  if (media.state !== "READY" || media.blobKey === null || media.sha256 === null || media.mime === null) {
    throw invalidParameter(
      parameter,
      `media ${media.id} has no file yet: PUT the file to the UploadURL that CreateUploadMedia returned`,
    );
  }
  return { ...media, blobKey: media.blobKey, sha256: media.sha256, mime: media.mime };
}

/**
 * A media file PUT straight to the blob store (S3) was never checked: the first job that names the
 * media checks it as an upload to Doppel would be, and makes the media READY (see direct-uploads.ts).
 */
async function adoptDirectMediaUpload(ctx: ServiceContext, media: MediaRecord, parameter: string) {
  if (!ctx.blobs.presignPut) return;
  const incoming = await ctx.blobs.head(mediaIncomingKey(media.id));
  if (!incoming) return;
  try {
    if (incoming.size > ctx.config.maxUploadBytes) {
      throw new DoppelError(
        "FILE_TOO_LARGE",
        `it is ${incoming.size} bytes, larger than the limit of ${ctx.config.maxUploadBytes} bytes`,
      );
    }
    await receiveMediaUpload(ctx, media.id, await ctx.blobs.get(incoming.key));
  } catch (error) {
    if (error instanceof DoppelError) {
      throw invalidParameter(parameter, `the file of media ${media.id} was refused: ${error.message}`);
    }
    throw error;
  }
}

/** A media's bytes copied under a job's prefix, ready to be recorded as the job's file in `slot`. */
export interface MediaCopy extends NewJobFile {
  readonly slot: "training-video" | "grant-file";
}

/**
 * Copies a READY media's bytes under the job's prefix (streamed, never whole in memory) to a key of its
 * own, checked against the media's sha256, for the caller to record in the transaction that makes its
 * change (recordJobFileIn) — or to delete if that change does not happen. Undefined when `current`,
 * the job's file in that slot now, already is a copy of this media: naming it again changes nothing.
 */
export async function copyMediaForJob(
  ctx: ServiceContext,
  jobId: string,
  slot: MediaCopy["slot"],
  media: ReadyMedia,
  current?: JobFile,
): Promise<MediaCopy | undefined> {
  const prefix = `${mediaCopyPrefix(jobId, slot)}${media.id}/`;
  if (current?.blobKey.startsWith(prefix) && current.sha256 === media.sha256) return undefined;
  const stored = await ctx.blobs.put(
    `${prefix}${randomUUID().replaceAll("-", "")}`,
    await ctx.blobs.get(media.blobKey),
    { contentType: media.mime },
  );
  if (stored.sha256 !== media.sha256) {
    await ctx.blobs.delete(stored.key);
    throw new Error(`the blob of media ${media.id} no longer has sha256 ${media.sha256}`);
  }
  return {
    slot,
    stored,
    contentType: media.mime,
    log: {
      logType: "UPLOAD_FILE",
      description: `${slot} taken from media ${media.id}: ${stored.size} bytes, sha256 ${stored.sha256}`,
    },
  };
}

/**
 * The consent media named by ICE's `ConsentMedia` (Doppel's addition): a video of the person saying they
 * agree, or a letter as an image or PDF (`other`) — of a kind the grant file takes.
 */
export async function requireConsentMedia(
  ctx: ServiceContext,
  caller: Caller,
  mediaId: string,
): Promise<ReadyMedia> {
  const media = await requireReadyMedia(ctx, caller, mediaId, ["video", "image", "other"], "ConsentMedia");
  if (!ACCEPTED_TYPES["grant-file"].includes(media.mime)) {
    throw invalidParameter(
      "ConsentMedia",
      `media ${media.id} is ${media.mime}; a consent is a video, or a letter as ${ACCEPTED_TYPES["grant-file"].filter((t) => !t.startsWith("video/")).join(", ")}`,
    );
  }
  return media;
}

/**
 * The media whose copy is the job's training video now, or undefined when it came from uploaded parts
 * (a MetaStudio upload replaces an ICE video, and ICE must then stop naming the old media).
 */
export async function trainingVideoMediaId(ctx: ServiceContext, jobId: string): Promise<string | undefined> {
  const file = (await listJobFiles(ctx.database.db, jobId)).find((f) => f.slot === "training-video");
  const prefix = mediaCopyPrefix(jobId, "training-video");
  if (!file?.blobKey.startsWith(prefix)) return undefined;
  return file.blobKey.slice(prefix.length).split("/")[0];
}
