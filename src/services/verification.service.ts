import { DoppelError } from "../domain/errors.js";
import { isHexId } from "../domain/job.js";
import { verifyImageKey, verifyImagePath, verifyReportKey } from "../domain/pipeline.js";
import { readJson } from "../pipeline/stages/stage-files.js";
import type { VerifyReport } from "../pipeline/stages/verify.stage.js";
import type { VerifyImage } from "../pipeline/stages/verify-images.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { blobDownload, type Download } from "./downloads.js";
import { requireJob } from "./jobs.service.js";
import { signedUrl } from "./signed-urls.js";

/** An image of the report with a signed URL to download it. */
type WithUrl<T> = T & { readonly url: string };

/** A report as stored: those written before the consent check existed have no `consent`. */
type StoredReport = Omit<VerifyReport, "consent"> & { readonly consent?: VerifyReport["consent"] };

/** The verify stage's report with a signed download URL (valid FILE_URL_TTL_MS) on every image it names. */
export interface SignedVerifyReport extends Omit<StoredReport, "frames" | "consent"> {
  readonly frames?: ReadonlyArray<WithUrl<NonNullable<VerifyReport["frames"]>[number]>>;
  readonly consent?: Omit<VerifyReport["consent"], "frame"> & {
    readonly frame?: WithUrl<NonNullable<VerifyReport["consent"]["frame"]>>;
  };
}

/**
 * What verification found for one of the caller's jobs (JOB_NOT_FOUND otherwise), with a signed URL
 * per sampled frame and for the consent video's face; null while the job has not been verified.
 */
export async function showVerification(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string,
  origin: string,
): Promise<SignedVerifyReport | null> {
  const job = await requireJob(ctx, caller, jobId);
  return signedVerifyReport(ctx, job.id, origin);
}

/** A job's verify report with signed URLs of its images, or null when it has none. */
export async function signedVerifyReport(
  ctx: ServiceContext,
  jobId: string,
  origin: string,
): Promise<SignedVerifyReport | null> {
  const report = await readReport(ctx, jobId);
  if (!report) return null;
  const sign = async <T extends VerifyImage>(image: T): Promise<WithUrl<T>> => ({
    ...image,
    url: await signedUrl(
      ctx,
      "GET",
      verifyImageKey(jobId, image.name),
      verifyImagePath(jobId, image.name),
      origin,
    ),
  });
  const { frames, consent, ...rest } = report;
  const { frame, ...found } = consent ?? { path: "none" };
  return {
    ...rest,
    ...(frames && { frames: await Promise.all(frames.map(sign)) }),
    ...(consent && { consent: { ...found, ...(frame && { frame: await sign(frame) }) } }),
  };
}

/**
 * An image of a job's verify report for its signed download URL: only a name the report lists is
 * served (JOB_NOT_FOUND otherwise, and for a job that is gone). Names hold their content's sha256,
 * so the recorded sha256 is its ETag.
 */
export async function verifyImageDownload(
  ctx: ServiceContext,
  jobId: string,
  name: string,
): Promise<Download> {
  const missing = () =>
    new DoppelError(
      "JOB_NOT_FOUND",
      `Job ${jobId.slice(0, 64)} has no verification image ${JSON.stringify(name.slice(0, 128))}`,
    );
  const report = isHexId(jobId) ? await readReport(ctx, jobId) : undefined;
  const consent = report?.consent?.frame;
  const image = [...(report?.frames ?? []), ...(consent ? [consent] : [])].find((i) => i.name === name);
  if (!image) throw missing();
  return blobDownload(
    ctx.blobs,
    {
      key: verifyImageKey(jobId, image.name),
      contentType: "image/jpeg",
      size: image.size,
      sha256: image.sha256,
    },
    missing,
  );
}

async function readReport(ctx: ServiceContext, jobId: string): Promise<StoredReport | undefined> {
  return readJson<StoredReport>(ctx.blobs, verifyReportKey(jobId));
}
