import { DoppelError, invalidParameter } from "../domain/errors.js";
import { isHexId, type Job } from "../domain/job.js";
import type { FileSlot } from "../domain/job-files.js";
import { checkText } from "../domain/text.js";
import { findVersionedJobById, listJobsInState } from "../store/job.repository.js";
import { moveJob } from "../store/job-transition.repository.js";
import { listLiveTasks } from "../store/task.repository.js";
import type { ServiceContext } from "./context.js";
import { downloadUrls } from "./job-files.service.js";
import { type SignedVerifyReport, signedVerifyReport } from "./verification.service.js";

/** A job waiting for review, with what the automatic checks found. */
export interface ReviewItem {
  readonly job: Job;
  /** The verify stage's report (probe, faces, frames with URLs, consent), or null when it has none. */
  readonly report: SignedVerifyReport | null;
  /** Signed download URLs of the job's files, by slot: the video to watch, the consent to read. */
  readonly files: Partial<Record<FileSlot, string>>;
}

/** Jobs waiting in MANUAL_VERIFYING, the longest-waiting first, with signed URLs of their reports' frames. */
export async function listReviewQueue(
  ctx: ServiceContext,
  page: { readonly offset: number; readonly limit: number },
  origin: string,
): Promise<{ count: number; items: ReviewItem[] }> {
  const { count, jobs } = await listJobsInState(ctx.database.db, "MANUAL_VERIFYING", page);
  const items = await Promise.all(
    jobs.map(async (job) => {
      const [report, files] = await Promise.all([
        signedVerifyReport(ctx, job.id, origin),
        downloadUrls(ctx, job.id, origin),
      ]);
      return { job, report, files };
    }),
  );
  return { count, items };
}

/** Approves a job in review: MANUAL_VERIFY_SUCCESS, then on to preprocessing. */
export async function approveReview(
  ctx: ServiceContext,
  operator: string,
  jobId: string,
  comment?: string,
): Promise<Job> {
  const note = comment === undefined ? undefined : checkText("comment", comment, 1000);
  return decide(ctx, jobId, ["MANUAL_VERIFY_SUCCESS", "WAIT_TRAINING_DATA_PREPROCESS"], {
    logDescription: `Approved by ${operator}${note ? `: ${note}` : ""}`,
    errorCode: null,
    redoReasons: [],
  });
}

/** Rejects a job in review with a reason the user can act on: MANUAL_VERIFY_FAILED. */
export async function rejectReview(
  ctx: ServiceContext,
  operator: string,
  jobId: string,
  reason: string,
): Promise<Job> {
  const why = checkText("reason", reason, 1000).trim();
  if (why === "") throw invalidParameter("reason", "say why the job is rejected; the user sees it");
  return decide(
    ctx,
    jobId,
    ["MANUAL_VERIFY_FAILED"],
    {
      logDescription: `Rejected by ${operator}: ${why}`,
      errorCode: "DOPPEL.REVIEW_REJECTED",
      redoReasons: [why],
    },
    why,
  );
}

async function decide(
  ctx: ServiceContext,
  jobId: string,
  path: ["MANUAL_VERIFY_SUCCESS", "WAIT_TRAINING_DATA_PREPROCESS"] | ["MANUAL_VERIFY_FAILED"],
  log: { logDescription: string; errorCode: string | null; redoReasons: string[] },
  message?: string,
): Promise<Job> {
  const current = isHexId(jobId) ? await findVersionedJobById(ctx.database.db, jobId) : undefined;
  if (!current) throw new DoppelError("JOB_NOT_FOUND", `No job ${JSON.stringify(jobId.slice(0, 64))}`);
  if (current.job.state !== "MANUAL_VERIFYING") {
    throw new DoppelError(
      "INVALID_STATE",
      `Job ${jobId} is in state ${current.job.state}; only jobs in MANUAL_VERIFYING can be reviewed`,
    );
  }
  const moved = await ctx.database.db.transaction().execute((trx) =>
    moveJob(trx, {
      jobId,
      projectId: current.job.projectId,
      from: "MANUAL_VERIFYING",
      version: current.version,
      path,
      log: { operateUser: "ADMIN", logType: "MANUAL_VERIFY", ...log },
      patch: { message: message ?? null },
      policy: ctx.config.pipeline,
      now: ctx.now(),
    }),
  );
  if (!moved) {
    throw new DoppelError(
      "CONFLICT",
      `Job ${jobId} changed while it was being reviewed; read it again and retry`,
    );
  }
  const after = await findVersionedJobById(ctx.database.db, jobId);
  return after?.job ?? current.job;
}

/** The pipeline's live tasks with their progress, for operators (admin API `GET /admin/v1/tasks`). */
export function listPipelineTasks(
  ctx: ServiceContext,
  page: { readonly offset: number; readonly limit: number },
) {
  return listLiveTasks(ctx.database.db, page);
}
