import { randomBytes } from "node:crypto";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import { isHexId, type Job } from "../domain/job.js";
import { verifyReportKey } from "../domain/pipeline.js";
import { checkText } from "../domain/text.js";
import { readJson } from "../pipeline/stages/stage-files.js";
import { findAdminToken, insertAdminToken } from "../store/admin-token.repository.js";
import { findToken } from "../store/credential.repository.js";
import { findVersionedJobById, listJobsInState } from "../store/job.repository.js";
import { moveJob } from "../store/job-transition.repository.js";
import { listLiveTasks } from "../store/task.repository.js";
import { hashToken } from "./admin.service.js";
import type { ServiceContext } from "./context.js";

export interface IssuedAdminToken {
  readonly token: string;
  readonly name: string;
  readonly expires_at: string;
}

/** Issues an operator's bearer token for the admin API, valid `ttlMs`; only its hash is stored. */
export async function createAdminToken(
  ctx: ServiceContext,
  name: string,
  ttlMs = 365 * 24 * 3600 * 1000,
): Promise<IssuedAdminToken> {
  const operator = checkText("name", name, 128).trim();
  if (operator === "") throw invalidParameter("name", "must not be empty");
  const token = `dpa_${randomBytes(32).toString("base64url")}`;
  const now = ctx.now();
  await insertAdminToken(ctx.database.db, {
    tokenHash: hashToken(token),
    name: operator,
    createTime: now,
    expireTime: now + ttlMs,
  });
  return { token, name: operator, expires_at: new Date(now + ttlMs).toISOString() };
}

/** The operator an `Authorization: Bearer <admin token>` header names; project credentials get FORBIDDEN. */
export async function authenticateAdmin(
  ctx: ServiceContext,
  authorization: string | undefined,
): Promise<string> {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
  if (token === undefined) {
    throw new DoppelError(
      "AUTH_MISSING",
      "The admin API needs an operator token: Authorization: Bearer <token> (make one with `doppel admin-token create`)",
    );
  }
  const hash = hashToken(token);
  // Not cached: operator calls are few, and a revoked or expired operator token stops at once.
  const operator = await findAdminToken(ctx.database.db, hash, ctx.now());
  if (operator !== undefined) return operator;
  if (await findToken(ctx.database.db, hash, ctx.now())) {
    throw new DoppelError("FORBIDDEN", "This is a project's token; the admin API takes operator tokens only");
  }
  throw new DoppelError("TOKEN_INVALID", "The operator token is unknown or expired");
}

/** A job waiting for review, with what the automatic checks found. */
export interface ReviewItem {
  readonly job: Job;
  /** The verify stage's report (probe, faces, consent), or null when it has none. */
  readonly report: unknown;
}

/** Jobs waiting in MANUAL_VERIFYING, the longest-waiting first. */
export async function listReviewQueue(
  ctx: ServiceContext,
  page: { readonly offset: number; readonly limit: number },
): Promise<{ count: number; items: ReviewItem[] }> {
  const { count, jobs } = await listJobsInState(ctx.database.db, "MANUAL_VERIFYING", page);
  const items = await Promise.all(jobs.map(async (job) => ({ job, report: await readReport(ctx, job.id) })));
  return { count, items };
}

async function readReport(ctx: ServiceContext, jobId: string): Promise<unknown> {
  return (await readJson(ctx.blobs, verifyReportKey(jobId))) ?? null;
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
