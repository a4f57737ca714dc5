import { type ExpressionBuilder, type Kysely, sql, type Transaction } from "kysely";
import {
  type EventData,
  type EventType,
  ICE_TRAINING_EVENT,
  iceTrainingOutcome,
  type NewEvent,
  type StoredEvent,
} from "../domain/events.js";
import { newJobId } from "../domain/job.js";
import type { DatabaseSchema, EventsTable } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/**
 * Writes `events` to the outbox in the caller's transaction — the one that makes the change they
 * announce — numbering them after the project's last event, and queues a delivery of each to every
 * webhook endpoint of the project that listens to its type. Three statements per event whatever the
 * number of endpoints (the deliveries are one INSERT … SELECT).
 */
export async function appendEvents(
  trx: Executor,
  projectId: string,
  events: readonly NewEvent[],
  now: number,
): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const n = events.length;
  // Taking numbers locks the project's counter row until commit (PostgreSQL), so numbers commit in order.
  const { last_seq } = await trx
    .insertInto("event_sequences")
    .values({ project_id: projectId, last_seq: n })
    .onConflict((oc) =>
      oc.column("project_id").doUpdateSet({ last_seq: sql<number>`event_sequences.last_seq + ${n}` }),
    )
    .returning("last_seq")
    .executeTakeFirstOrThrow();
  const first = Number(last_seq) - n + 1;
  const stored = events.map(
    (event, i): StoredEvent => ({
      id: newJobId(now),
      projectId,
      seq: first + i,
      jobId: event.jobId,
      type: event.type,
      data: event.data,
      createTime: now,
    }),
  );
  await trx
    .insertInto("events")
    .values(
      stored.map((event) => ({
        id: event.id,
        project_id: projectId,
        seq: event.seq,
        job_id: event.jobId,
        type: event.type,
        payload: JSON.stringify(event.data),
        create_time: now,
      })),
    )
    .execute();
  for (const event of stored) await queueDeliveries(trx, event, now);
  return stored;
}

/**
 * Queues `event` to the project's endpoints that want it: Doppel webhooks listening to its type (or to
 * all), and the ICE callback when the event ends a training and the callback lists ICE's event. A
 * disabled endpoint gets its deliveries too; they wait until it is enabled again.
 */
async function queueDeliveries(trx: Executor, event: StoredEvent, now: number): Promise<void> {
  // `event_types` is a JSON array of names without quotes or `%` (a `_` in a name matches itself too).
  const wanted = (eb: ExpressionBuilder<DatabaseSchema, "webhook_endpoints">, name: string) =>
    eb.or([eb("event_types", "=", "[]"), eb("event_types", "like", `%${JSON.stringify(name)}%`)]);
  const ice = iceTrainingOutcome(event) !== undefined;
  await trx
    .insertInto("webhook_deliveries")
    .columns([
      "endpoint_id",
      "event_id",
      "job_id",
      "event_seq",
      "state",
      "next_attempt_at",
      "create_time",
      "update_time",
    ])
    .expression((eb) =>
      eb
        .selectFrom("webhook_endpoints")
        .select([
          "webhook_endpoints.id",
          sql.lit(event.id).as("event_id"),
          sql.lit(event.jobId).as("job_id"),
          sql.lit(event.seq).as("event_seq"),
          sql.lit("pending").as("state"),
          sql.lit(now).as("next_attempt_at"),
          sql.lit(now).as("create_time"),
          sql.lit(now).as("update_time"),
        ])
        .where("project_id", "=", event.projectId)
        .where((w) =>
          w.or([
            w.and([w("kind", "=", "standard"), wanted(w, event.type)]),
            ...(ice ? [w.and([w("kind", "=", "ice"), wanted(w, ICE_TRAINING_EVENT)])] : []),
          ]),
        ),
    )
    .execute();
}

function fromRow(row: EventsTable): StoredEvent {
  return {
    id: row.id,
    projectId: row.project_id,
    seq: Number(row.seq),
    jobId: row.job_id,
    type: row.type as EventType,
    data: JSON.parse(row.payload) as EventData,
    createTime: Number(row.create_time),
  };
}

/** A project's events after `afterSeq`, oldest first, optionally of one job: the stream's read. */
export async function listEventsAfter(
  db: Executor,
  query: {
    readonly projectId: string;
    readonly afterSeq: number;
    readonly jobId?: string;
    readonly limit: number;
  },
): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom("events")
    .selectAll()
    .where("project_id", "=", query.projectId)
    .where("seq", ">", query.afterSeq)
    .$if(query.jobId !== undefined, (q) => q.where("job_id", "=", query.jobId as string))
    .orderBy("seq")
    .limit(query.limit)
    .execute();
  return rows.map(fromRow);
}

/** The number of a project's latest event (0 before the first). */
export async function lastEventSeq(db: Executor, projectId: string): Promise<number> {
  const row = await db
    .selectFrom("event_sequences")
    .select("last_seq")
    .where("project_id", "=", projectId)
    .executeTakeFirst();
  return row === undefined ? 0 : Number(row.last_seq);
}

/** One event by id, in its project. */
export async function findEvent(
  db: Executor,
  projectId: string,
  eventId: string,
): Promise<StoredEvent | undefined> {
  const row = await db
    .selectFrom("events")
    .selectAll()
    .where("id", "=", eventId)
    .where("project_id", "=", projectId)
    .executeTakeFirst();
  return row === undefined ? undefined : fromRow(row);
}
