import type { Readable } from "node:stream";
import type { StoredBlob } from "../blobs/blob-store.js";
import { sniff } from "../blobs/sniff.js";
import { DoppelError } from "../domain/errors.js";
import { isHexId } from "../domain/job.js";
import { ACCEPTED_TYPES, type FileSlot, MULTIPART_SLOTS } from "../domain/job-files.js";
import { UPLOAD_STATES } from "../domain/job-rules.js";
import { findJobById, findJobOptions } from "../store/job.repository.js";
import type { ServiceContext } from "./context.js";
import { newSlotFileKey, partKey, putWithinLimit, recordJobFile } from "./job-blobs.js";

/** Where an upload goes: a job's slot, and for multipart slots a part number. */
export interface UploadTarget {
  readonly jobId: string;
  readonly slot: FileSlot;
  readonly part?: number | undefined;
}

/**
 * Streams one upload into the blob store. The caller has already checked the signed URL, which binds
 * the job and slot. The content must be of a kind the slot accepts (checked by its magic bytes on the
 * first part), at most `maxUploadBytes`; a re-upload replaces the earlier one atomically, and a cut
 * connection leaves nothing behind. A single file that arrives after the job was submitted is refused
 * and changes nothing: the job keeps the file it was submitted with.
 */
export async function receiveUpload(
  ctx: ServiceContext,
  target: UploadTarget,
  body: Readable,
): Promise<StoredBlob> {
  const { jobId, slot, part } = target;
  const job = isHexId(jobId) ? await findJobById(ctx.database.db, jobId) : undefined;
  if (!job) throw new DoppelError("JOB_NOT_FOUND", `No job ${jobId.slice(0, 64)}`);
  if (!UPLOAD_STATES.includes(job.state)) {
    throw new DoppelError(
      "INVALID_STATE",
      `Files of job ${jobId} cannot be uploaded in state ${job.state}; uploads are allowed in ${UPLOAD_STATES.join(", ")}`,
    );
  }
  const multipart = MULTIPART_SLOTS.has(slot);
  if (multipart) {
    const options = await findJobOptions(ctx.database.db, jobId);
    const count = slot === "training-video" ? options.videoMultipartCount : options.actionVideoMultipartCount;
    if (part === undefined || part < 1 || part > count) {
      throw new DoppelError(
        "INVALID_PARAMETER",
        `${slot} takes parts 1 to ${count}; got ${part ?? "no part number"}`,
      );
    }
  } else if (part !== undefined) {
    throw new DoppelError("INVALID_PARAMETER", `${slot} is a single file and takes no part number`);
  }

  let stream = body;
  let contentType = "application/octet-stream";
  if (!multipart || part === 1) ({ stream, mime: contentType } = await acceptedContent(slot, body));
  // A single file goes to a key of its own and becomes the job's only if the job still takes files.
  const key = multipart ? partKey(jobId, slot, part as number) : newSlotFileKey(jobId, slot);
  const stored = await putWithinLimit(ctx, key, stream);
  if (!multipart) {
    await recordJobFile(ctx, jobId, slot, stored, contentType, {
      logType: "UPLOAD_FILE",
      description: `${slot} uploaded: ${stored.size} bytes`,
    });
  } else if (!(await findJobById(ctx.database.db, jobId))) {
    // Deleted while the part arrived. A delete removes the row before it sweeps the job's blobs, so a
    // part stored before the row went is swept, and one stored after is removed here.
    await ctx.blobs.delete(stored.key);
    throw new DoppelError("JOB_NOT_FOUND", `No job ${jobId}; it was deleted`);
  }
  return stored;
}

/** The content (from its magic bytes) if it is of a kind the slot accepts; INVALID_FILE otherwise. */
export async function acceptedContent(
  slot: FileSlot,
  body: Readable,
): Promise<{ stream: Readable; mime: string }> {
  const sniffed = await sniff(body);
  if (sniffed.mime === undefined || !ACCEPTED_TYPES[slot].includes(sniffed.mime)) {
    body.destroy();
    throw new DoppelError(
      "INVALID_FILE",
      `The ${slot} upload is ${sniffed.mime ?? "of an unrecognised type"}; accepted: ${ACCEPTED_TYPES[slot].join(", ")}`,
    );
  }
  return { stream: sniffed.stream, mime: sniffed.mime };
}
