import { type Kysely, PostgresAdapter, type RawBuilder, sql, type Transaction } from "kysely";
import {
  type EventData,
  type EventType,
  iceTrainingOutcome,
  type NewEvent,
  type StoredEvent,
} from "../domain/events.js";
import { newJobId } from "../domain/job.js";
import type { DatabaseSchema, EventsTable } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/**
 * Writes `events` to the outbox in the caller's transaction — the one that makes the change they
 * announce — numbered after the project's last event. Nothing else: the deliveries to the project's
 * webhooks are queued by the senders afterwards (`queueNewEvents`), so a state change pays for one
 * statement whatever the number of endpoints. Written as SQL per engine, because the numbering is
 * what differs and this runs in every state change (bench:events measures it).
 */
export async function appendEvents(
  trx: Executor,
  projectId: string,
  events: readonly NewEvent[],
  now: number,
  /**
   * A data-modifying statement of the same change (the move's history entries) to run in the same
   * round trip on PostgreSQL, as a CTE; on SQLite, where statements cost no round trip, before.
   */
  alongside?: RawBuilder<unknown>,
): Promise<StoredEvent[]> {
  if (events.length === 0) {
    if (alongside !== undefined) await alongside.execute(trx);
    return [];
  }
  const rows = events.map((event) => ({
    id: newJobId(now),
    event,
    iceOutcome: iceTrainingOutcome(event) ?? null,
    payload: JSON.stringify(event.data),
  }));
  let seqs: number[];
  if (trx.getExecutor().adapter instanceof PostgresAdapter) {
    seqs = await insertNumberedPostgres(trx, projectId, rows, now, alongside);
  } else {
    if (alongside !== undefined) await alongside.execute(trx);
    seqs = await insertNumberedSqlite(trx, projectId, rows, now);
  }
  return rows.map(({ id, event }, i) => ({
    id,
    projectId,
    seq: seqs[i] as number,
    jobId: event.jobId,
    type: event.type,
    data: event.data,
    createTime: now,
  }));
}

interface EventRow {
  readonly id: string;
  readonly event: NewEvent;
  readonly iceOutcome: string | null;
  readonly payload: string;
}

/**
 * PostgreSQL: the project's counter row is bumped by the number of events and the rows inserted with
 * the numbers it gives, in one statement (one round trip). The row's lock, held to commit, makes
 * numbers commit in order. Projects get their counter row when made (and from the migration), so the
 * plain UPDATE finds it; the upsert is the fallback for one that has none, an UPDATE being the cheaper
 * of the two on every state change (bench:events).
 */
async function insertNumberedPostgres(
  trx: Executor,
  projectId: string,
  rows: readonly EventRow[],
  now: number,
  alongside: RawBuilder<unknown> | undefined,
): Promise<number[]> {
  const n = rows.length;
  const values = sql.join(
    rows.map(
      (row, i) =>
        sql`(${row.id}::text, ${i + 1}::bigint, ${row.event.jobId}::text, ${row.event.type}::text, ${row.iceOutcome}::text, ${row.payload}::text)`,
    ),
  );
  const insertFrom = (counter: RawBuilder<unknown>, also: RawBuilder<unknown> | undefined) => sql<{
    seq: string | number;
  }>`
    with ${also === undefined ? sql`` : sql`alongside as (${also}), `}counter as (${counter})
    insert into events (id, project_id, seq, job_id, type, ice_outcome, payload, create_time)
    select v.id, ${projectId}, counter.last_seq - ${n}::bigint + v.i, v.job_id, v.type, v.ice_outcome, v.payload, ${now}::bigint
    from counter, (values ${values}) as v (id, i, job_id, type, ice_outcome, payload)
    order by v.i
    returning seq`;
  let result = await insertFrom(
    sql`update event_sequences set last_seq = last_seq + ${n}::bigint where project_id = ${projectId} returning last_seq`,
    alongside,
  ).execute(trx);
  if (result.rows.length === 0) {
    // No counter row (a project made before it was made with one): the alongside statement ran; make
    // the row and number the events without it.
    result = await insertFrom(
      sql`insert into event_sequences (project_id, last_seq) values (${projectId}, ${n}::bigint)
        on conflict (project_id) do update set last_seq = event_sequences.last_seq + excluded.last_seq
        returning last_seq`,
      undefined,
    ).execute(trx);
  }
  return result.rows.map((row) => Number(row.seq)).sort((a, b) => a - b);
}

/**
 * SQLite: `max(seq) + 1` over the project's index, one row at a time (a move enters one or a few
 * states). SQLite's single writer holds the database from the first write to commit, so no other
 * transaction can take the same number or commit a smaller one later.
 */
async function insertNumberedSqlite(
  trx: Executor,
  projectId: string,
  rows: readonly EventRow[],
  now: number,
): Promise<number[]> {
  const seqs: number[] = [];
  for (const row of rows) {
    const result = await sql<{ seq: number }>`
      insert into events (id, project_id, seq, job_id, type, ice_outcome, payload, create_time)
      select ${row.id}, ${projectId}, coalesce(max(seq), 0) + 1, ${row.event.jobId}, ${row.event.type},
        ${row.iceOutcome}, ${row.payload}, ${now}
      from events where project_id = ${projectId}
      returning seq`.execute(trx);
    seqs.push(Number(result.rows[0]?.seq));
  }
  return seqs;
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

/** The number of a project's latest committed event (0 before the first). */
export async function lastEventSeq(db: Executor, projectId: string): Promise<number> {
  const row = await db
    .selectFrom("events")
    .select((eb) => eb.fn.max("seq").as("seq"))
    .where("project_id", "=", projectId)
    .executeTakeFirst();
  return row?.seq == null ? 0 : Number(row.seq);
}

/** One event by id, for the sender (the delivery that names it is already the project's). */
export async function findEventById(db: Executor, eventId: string): Promise<StoredEvent | undefined> {
  const row = await db.selectFrom("events").selectAll().where("id", "=", eventId).executeTakeFirst();
  return row === undefined ? undefined : fromRow(row);
}
