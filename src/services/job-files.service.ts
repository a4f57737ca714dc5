import { DoppelError } from "../domain/errors.js";
import { isHexId } from "../domain/job.js";
import { downloadPath, type FileSlot, uploadPath } from "../domain/job-files.js";
import type { JobOptions } from "../domain/job-options.js";
import { findSlotBlobKeys, listJobFiles } from "../store/job-file.repository.js";
import type { ServiceContext } from "./context.js";
import { blobDownload, type Download } from "./downloads.js";
import { incomingKey, partKey } from "./job-blobs.js";
import { signedUrl } from "./signed-urls.js";

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
    signedUrl(
      ctx,
      "PUT",
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

/** Signed download URLs of the job's whole files, by slot, valid for FILE_URL_TTL_MS. */
export async function downloadUrls(
  ctx: ServiceContext,
  jobId: string,
  origin: string,
): Promise<Partial<Record<FileSlot, string>>> {
  const files = await listJobFiles(ctx.database.db, jobId);
  const urls = await Promise.all(
    files.map(
      async (f) =>
        [f.slot, await signedUrl(ctx, "GET", f.blobKey, downloadPath(jobId, f.slot), origin)] as const,
    ),
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
  const urls = await Promise.all(
    [...keys].map(
      async ([jobId, blobKey]) =>
        [jobId, await signedUrl(ctx, "GET", blobKey, downloadPath(jobId, "cover"), origin)] as const,
    ),
  );
  return new Map(urls);
}

/**
 * A job's whole file for a signed download URL (see Download): looked up now, read only if a body is
 * sent. A job file's blob key is its own and never rewritten, so the recorded sha256 is its ETag.
 */
export async function jobFileDownload(ctx: ServiceContext, jobId: string, slot: FileSlot): Promise<Download> {
  const file = isHexId(jobId)
    ? (await listJobFiles(ctx.database.db, jobId)).find((f) => f.slot === slot)
    : undefined;
  const missing = () => new DoppelError("JOB_NOT_FOUND", `Job ${jobId.slice(0, 64)} has no ${slot} file`);
  if (!file) throw missing();
  return blobDownload(
    ctx.blobs,
    {
      key: file.blobKey,
      contentType: file.contentType,
      size: file.size,
      sha256: file.sha256,
      lastModified: file.uploadTime,
    },
    missing,
  );
}
