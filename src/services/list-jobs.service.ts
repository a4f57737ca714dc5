import { DoppelError, invalidParameter } from "../domain/errors.js";
import type { Job } from "../domain/job.js";
import { optionalText } from "../domain/job-fields.js";
import type { JobState } from "../domain/states.js";
import { type JobList, listJobs as listJobRows } from "../store/job.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { coverUrls } from "./job-files.service.js";

/** A list request after the dialect has parsed its wire form. */
export interface ListJobsQuery {
  readonly offset: number;
  readonly limit: number;
  readonly sortKey: "create_time" | "update_time";
  readonly sortDir: "asc" | "desc";
  readonly states?: readonly JobState[] | undefined;
  readonly createSince?: number | undefined;
  readonly createUntil?: number | undefined;
  readonly updateSince?: number | undefined;
  readonly updateUntil?: number | undefined;
  /** MetaStudio's `query_project_id`: allowed only when it names the caller's own project. */
  readonly queryProjectId?: string | undefined;
  readonly batchName?: string | undefined;
  readonly tag?: string | undefined;
  readonly jobId?: string | undefined;
  readonly name?: string | undefined;
  readonly modelResolution?: string | undefined;
}

/** A listed job with the signed URL of its cover, when it has one. */
export interface ListedJob {
  readonly job: Job;
  readonly coverUrl: string | undefined;
}

/** MetaStudio's list: a page of the caller's jobs, each with its cover's download URL. */
export async function listJobsWithCovers(
  ctx: ServiceContext,
  caller: Caller,
  query: ListJobsQuery,
  origin: string,
): Promise<{ count: number; jobs: ListedJob[] }> {
  const { count, jobs } = await listJobs(ctx, caller, query);
  const covers = await coverUrls(
    ctx,
    jobs.map((job) => job.id),
    origin,
  );
  return { count, jobs: jobs.map((job) => ({ job, coverUrl: covers.get(job.id) })) };
}

/** Lists the caller's jobs. Never returns another project's jobs, whatever the query says. */
export async function listJobs(ctx: ServiceContext, caller: Caller, query: ListJobsQuery): Promise<JobList> {
  const projectId = caller.principal.projectId;
  if (query.queryProjectId !== undefined && query.queryProjectId !== projectId) {
    throw new DoppelError(
      "PROJECT_MISMATCH",
      `query_project_id ${JSON.stringify(query.queryProjectId.slice(0, 64))} is not the project of these credentials`,
    );
  }
  checkRange("create_since", query.createSince, "create_until", query.createUntil);
  checkRange("update_since", query.updateSince, "update_until", query.updateUntil);
  return listJobRows(
    ctx.database.db,
    ctx.database.kind,
    {
      projectId,
      appUserId: caller.appUserId,
      states: query.states,
      createSince: query.createSince,
      createUntil: query.createUntil,
      updateSince: query.updateSince,
      updateUntil: query.updateUntil,
      batchName: optionalText("batch_name", query.batchName, 255),
      tag: optionalText("tag", query.tag, 255),
      jobId: optionalText("job_id", query.jobId, 64),
      nameContains: optionalText("name", query.name, 255),
      modelResolution: optionalText("model_resolution", query.modelResolution, 16),
    },
    { offset: query.offset, limit: query.limit, sortKey: query.sortKey, sortDir: query.sortDir },
  );
}

function checkRange(
  sinceName: string,
  since: number | undefined,
  untilName: string,
  until: number | undefined,
): void {
  if (since !== undefined && until !== undefined && since > until) {
    throw invalidParameter(sinceName, `${sinceName} is later than ${untilName}; the range is empty`);
  }
}
