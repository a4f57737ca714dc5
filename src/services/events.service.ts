import { invalidParameter } from "../domain/errors.js";
import type { StoredEvent } from "../domain/events.js";
import { lastEventSeq, listEventsAfter } from "../store/event.repository.js";
import { type Caller, requireWholeProject } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { requireJob } from "./jobs.service.js";

/** What a stream or a page of events reads: after which event, of which job, how many. */
export interface EventQuery {
  /** The last event number the reader has (Last-Event-ID); 0 for everything kept. */
  readonly after: number;
  readonly jobId?: string | undefined;
  readonly limit: number;
}

/** Parses a Last-Event-ID (or `after`) value: an event sequence number. */
export function parseEventCursor(parameter: string, raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return 0;
  if (!/^\d{1,15}$/.test(raw.trim())) throw invalidParameter(parameter, "must be an event sequence number");
  return Number(raw.trim());
}

/**
 * Checks what a reader may see: a job must be the caller's, and a caller narrowed to one end user
 * (X-App-UserId) may read only one job's events — the project's would show every end user's jobs.
 * Answers the project's latest event number.
 */
export async function openEventStream(
  ctx: ServiceContext,
  caller: Caller,
  jobId: string | undefined,
): Promise<number> {
  if (jobId === undefined) requireWholeProject(caller, "the project's events");
  else await requireJob(ctx, caller, jobId);
  return lastEventSeq(ctx.database.db, caller.principal.projectId);
}

/** A page of the caller's events after `query.after`, oldest first, checked as `openEventStream` checks. */
export async function readEventPage(
  ctx: ServiceContext,
  caller: Caller,
  query: EventQuery,
): Promise<StoredEvent[]> {
  await openEventStream(ctx, caller, query.jobId);
  return readEvents(ctx, caller, query);
}

/** The project's events after `query.after`, oldest first: a stream's next read once `openEventStream` checked it. */
export function readEvents(ctx: ServiceContext, caller: Caller, query: EventQuery): Promise<StoredEvent[]> {
  return listEventsAfter(ctx.database.db, {
    projectId: caller.principal.projectId,
    afterSeq: query.after,
    ...(query.jobId !== undefined && { jobId: query.jobId }),
    limit: query.limit,
  });
}
