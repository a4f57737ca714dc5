import { stat } from "node:fs/promises";
import { UPLOAD_STATES } from "../domain/job-rules.js";
import type { JobState } from "../domain/states.js";
import type { DoppelClient } from "./api-client.js";
import { type PartResult, uploadParts } from "./multipart-uploader.js";
import { UploadProgress } from "./progress-bar.js";

export interface UploadSummary {
  readonly job_id: string;
  readonly size: number;
  readonly parts: readonly PartResult[];
  /** SHA-256 of the assembled video, as the server recorded it. */
  readonly sha256: string | undefined;
}

/**
 * The whole upload of a job's training video: checks the job, asks which parts are there already,
 * sends the others, then assembles them with CONFIRM_MULTIPART_UPLOADED.
 */
export async function uploadTrainingVideo(
  client: DoppelClient,
  options: { jobId: string; file: string; urls: readonly string[]; concurrency?: number; progress?: boolean },
): Promise<UploadSummary> {
  const { jobId, file, urls } = options;
  const job = await client.showJob(jobId);
  if (!UPLOAD_STATES.includes(job.state as JobState)) {
    throw new Error(
      `job ${jobId} is in state ${job.state}; its training video can be uploaded only in ${UPLOAD_STATES.join(", ")}`,
    );
  }
  if (job.video_multipart_count !== urls.length) {
    throw new Error(
      `job ${jobId} now takes ${job.video_multipart_count} part(s) but ${urls.length} upload URL(s) were saved; it was updated since it was created, so its saved URLs no longer apply`,
    );
  }
  const { size } = await stat(file);
  const listed = await client.command(jobId, "GET_MULTIPART_UPLOADED");
  const present = new Map((listed.multipart_data ?? []).map((p) => [p.part_number, p.etag]));
  const bar = options.progress ? new UploadProgress(size, urls.length) : undefined;
  let parts: PartResult[];
  try {
    parts = await uploadParts({
      file,
      size,
      urls,
      present,
      concurrency: options.concurrency,
      onBytes: (n) => bar?.bytes(n),
      onPart: (result) => bar?.part(result),
    });
  } finally {
    bar?.end();
  }
  bar?.note(`assembling ${urls.length} part${urls.length > 1 ? "s" : ""} on the server…`);
  await client.command(jobId, "CONFIRM_MULTIPART_UPLOADED");
  const after = await client.showJob(jobId);
  const log = after.operation_logs.filter((l) => l.log_type === "CONFIRM_MULTIPART_UPLOADED").at(-1);
  const sha256 = /sha256 ([0-9a-f]{64})/.exec(log?.log_description ?? "")?.[1];
  return { job_id: jobId, size, parts, sha256 };
}
