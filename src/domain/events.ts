import { createHash } from "node:crypto";
import { iceStatusOf } from "./ice-status.js";
import type { OperationLog } from "./operation-log.js";
import type { JobState } from "./states.js";

/**
 * Doppel's events: what a job went through, announced on webhooks, ICE callbacks and the live stream.
 * Written to the outbox (store/event.repository.ts) in the transaction of the change.
 */
export const EVENT_TYPES = ["job.created", "job.state_changed", "job.deleted", "asset.published"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * ICE's event for a finished avatar training: sent when a job's ICE status becomes Success or Fail.
 * ICE's public event list (help.aliyun.com/zh/ims/user-guide/event-list-2) names no avatar-training
 * event although SubmitAvatarTrainingJob says its result is "sent via a callback notification"; the
 * name follows ICE's `<Thing>Complete` convention (ProduceMediaComplete) and the body ICE's envelope.
 */
export const ICE_TRAINING_EVENT = "AvatarTrainingComplete";

/** An event before it is numbered: what the outbox stores. */
export interface NewEvent {
  readonly type: EventType;
  readonly jobId: string;
  readonly data: EventData;
}

/** The data of every event: the job, and for state changes the states in both vocabularies. */
export interface EventData {
  readonly job_id: string;
  readonly job_name?: string;
  readonly old_state?: JobState | null;
  readonly new_state?: JobState | null;
  /** The same change as ICE's five statuses name it. */
  readonly ice?: { readonly old_status: string | null; readonly new_status: string | null };
  readonly operate_user?: string;
  readonly log_type?: string;
  readonly description?: string;
  readonly error_code?: string | null;
  /** Why a check failed or what to redo, as the job's history says. */
  readonly reasons?: string[];
  readonly asset_id?: string | null;
}

/** A numbered event, as stored and sent. */
export interface StoredEvent {
  readonly id: string;
  readonly projectId: string;
  readonly seq: number;
  readonly jobId: string | null;
  readonly type: EventType;
  readonly data: EventData;
  readonly createTime: number;
}

/** The events of a job moving from `from` along `path`: one per state entered. */
export function stateChangeEvents(
  jobId: string,
  from: JobState,
  path: readonly JobState[],
  log: Omit<OperationLog, "operateTime">,
  assetId?: string | null,
): NewEvent[] {
  let previous = from;
  return path.map((to, i) => {
    const data: EventData = {
      job_id: jobId,
      old_state: previous,
      new_state: to,
      ice: { old_status: iceStatusOf(previous), new_status: iceStatusOf(to) },
      operate_user: log.operateUser,
      log_type: i === 0 ? log.logType : to,
      description: i === 0 ? log.logDescription : `${previous} → ${to}`,
      error_code: i === 0 ? log.errorCode : null,
      reasons: i === 0 ? [...log.redoReasons] : [],
      ...(assetId !== undefined && i === path.length - 1 && { asset_id: assetId }),
    };
    previous = to;
    return { type: "job.state_changed", jobId, data };
  });
}

/**
 * Whether an endpoint gets an event: a Doppel webhook listening to `types` (empty: all) gets the
 * event if its type is among them; an ICE callback gets ICE's training event when a training ended
 * (`iceOutcome`) and its EventTypeList names that event.
 */
export function endpointWants(
  kind: "standard" | "ice",
  types: readonly string[],
  event: { readonly type: string; readonly iceOutcome: string | null },
): boolean {
  if (kind === "ice") return event.iceOutcome !== null && types.includes(ICE_TRAINING_EVENT);
  return types.length === 0 || types.includes(event.type);
}

/** The ICE status an event leaves a finished training in, when it is one ICE announces. */
export function iceTrainingOutcome(
  event: Pick<StoredEvent, "type" | "data">,
): "Success" | "Fail" | undefined {
  if (event.type !== "job.state_changed") return undefined;
  const status = event.data.ice?.new_status;
  if (status === event.data.ice?.old_status) return undefined;
  return status === "Success" || status === "Fail" ? status : undefined;
}

/**
 * ICE's `UserId` (a Long: the Alibaba Cloud account) for a project, which has a string id here: the
 * first 52 bits of its sha256, stable and exact in every JSON reader.
 */
export function iceUserIdOf(projectId: string): number {
  return Number.parseInt(createHash("sha256").update(projectId).digest("hex").slice(0, 13), 16);
}

/** A job was created (in WAIT_FILE_UPLOAD, ICE's Init). */
export function jobCreatedEvent(job: {
  readonly id: string;
  readonly name: string;
  readonly state: JobState;
}): NewEvent {
  return {
    type: "job.created",
    jobId: job.id,
    data: {
      job_id: job.id,
      job_name: job.name,
      old_state: null,
      new_state: job.state,
      ice: { old_status: null, new_status: iceStatusOf(job.state) },
    },
  };
}

/** A job was deleted by its owner, in the state it was in. */
export function jobDeletedEvent(job: {
  readonly id: string;
  readonly name: string;
  readonly state: JobState;
}): NewEvent {
  return {
    type: "job.deleted",
    jobId: job.id,
    data: {
      job_id: job.id,
      job_name: job.name,
      old_state: job.state,
      new_state: null,
      ice: { old_status: iceStatusOf(job.state), new_status: null },
    },
  };
}

/** A trained avatar was published as an asset. */
export function assetPublishedEvent(
  job: { readonly id: string; readonly name: string },
  assetId: string,
): NewEvent {
  return {
    type: "asset.published",
    jobId: job.id,
    data: { job_id: job.id, job_name: job.name, asset_id: assetId },
  };
}

/**
 * An event as clients see it — a webhook's body and a stream's `data` — in the shape Standard Webhooks
 * recommends (`type`, `timestamp`, `data`), with its id and per-project sequence number.
 */
export function eventJson(event: StoredEvent) {
  return {
    id: event.id,
    type: event.type,
    timestamp: new Date(event.createTime).toISOString(),
    project_id: event.projectId,
    sequence: event.seq,
    data: event.data,
  };
}
