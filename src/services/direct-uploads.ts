import { DoppelError } from "../domain/errors.js";
import { FILE_SLOTS, MULTIPART_SLOTS } from "../domain/job-files.js";
import { listJobFiles } from "../store/job-file.repository.js";
import type { ServiceContext } from "./context.js";
import { incomingKey } from "./job-blobs.js";
import { receiveUpload } from "./uploads.service.js";

/**
 * Direct uploads. With a blob store that has presigned PUT URLs of its own (S3), clients upload straight
 * to the bucket and Doppel never sees the bytes arrive, so nothing is checked at upload time:
 * - parts land at their part keys and are checked (size, magic bytes) when CONFIRM_MULTIPART_UPLOADED
 *   assembles them, as they are with Doppel's own URLs;
 * - single files (cover, grant file, audio) land at an incoming key and are *adopted* the first time
 *   Doppel needs them (show, submit): checked like an upload to Doppel and copied to the key the job
 *   records. The copy is what counts: a later PUT to the still-valid URL changes only the incoming
 *   object, which is adopted again while the job takes files and ignored once it was submitted.
 */

/**
 * Adopts the job's direct single-file uploads that are new or changed since last adopted, and says
 * whether it adopted any. `strict` throws the first refusal (a submit must not go ahead without
 * saying why); otherwise a refused file is left where it is, unrecorded, and the job shows no such
 * file.
 */
export async function adoptDirectUploads(
  ctx: ServiceContext,
  jobId: string,
  mode: "strict" | "lenient",
): Promise<boolean> {
  if (!ctx.blobs.presignPut) return false;
  let adopted = false;
  const recorded = await listJobFiles(ctx.database.db, jobId);
  for (const slot of FILE_SLOTS) {
    if (MULTIPART_SLOTS.has(slot)) continue;
    const incoming = await ctx.blobs.head(incomingKey(jobId, slot));
    // Both etags are the MD5 of the content: the same etag is the same file, already adopted.
    if (!incoming || recorded.some((f) => f.slot === slot && f.etag === incoming.etag)) continue;
    try {
      if (incoming.size > ctx.config.maxUploadBytes) {
        throw new DoppelError(
          "FILE_TOO_LARGE",
          `The ${slot} upload is ${incoming.size} bytes, larger than the limit of ${ctx.config.maxUploadBytes} bytes`,
        );
      }
      await receiveUpload(ctx, { jobId, slot }, await ctx.blobs.get(incoming.key));
      adopted = true;
    } catch (error) {
      if (mode === "strict") throw error;
    }
  }
  return adopted;
}
