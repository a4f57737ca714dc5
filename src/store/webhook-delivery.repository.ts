import { type Kysely, PostgresAdapter, type Selectable, sql, type Transaction } from "kysely";
import type { DatabaseSchema, WebhookDeliveriesTable } from "./schema.js";
import { endpointFromRow, type WebhookEndpoint } from "./webhook.repository.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export type DeliveryState = "pending" | "delivering" | "delivered" | "failed";

/** One event's delivery to one endpoint, with what its last attempt got. */
export interface Delivery {
  readonly endpointId: string;
  readonly eventId: string;
  readonly jobId: string | null;
  readonly eventSeq: number;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly leaseOwner: string | null;
  readonly lastStatus: number | null;
  readonly lastLatencyMs: number | null;
  readonly lastResponse: string | null;
  readonly lastError: string | null;
  readonly lastAttemptAt: number | null;
  readonly deliveredAt: number | null;
  readonly createTime: number;
}

function deliveryFromRow(row: Selectable<WebhookDeliveriesTable>): Delivery {
  const time = (value: number | null) => (value === null ? null : Number(value));
  return {
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    jobId: row.job_id,
    eventSeq: Number(row.event_seq),
    state: row.state as DeliveryState,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    leaseOwner: row.lease_owner,
    lastStatus: time(row.last_status),
    lastLatencyMs: time(row.last_latency_ms),
    lastResponse: row.last_response,
    lastError: row.last_error,
    lastAttemptAt: time(row.last_attempt_at),
    deliveredAt: time(row.delivered_at),
    createTime: Number(row.create_time),
  };
}

/**
 * Claims the next delivery due for `owner` until `now + leaseMs`: a pending one whose time has come,
 * or one whose sender stopped (its lease ran out: the process died mid-send, so the receiver may have
 * it; it is sent again with the same event id). Only enabled endpoints, and per endpoint and job in
 * event order: a delivery waits while an earlier event of its job is still pending or being sent to
 * the same endpoint.
 *
 * PostgreSQL: one UPDATE of the row its probe locked, SKIP LOCKED. SQLite: a probe, then a
 * compare-and-set update that repeats the probe's conditions (of two senders that probed the same
 * row, one update matches and the other probes again); no transaction is held across the two, so
 * SQLite never has to upgrade a read lock, which fails at once when another process wrote meanwhile.
 */
export async function claimDelivery(
  db: Executor,
  claim: {
    readonly owner: string;
    readonly now: number;
    readonly leaseMs: number;
    /** Whether to look for expired leases too (a busy sender does now and then, not on every claim). */
    readonly takeOver?: boolean;
  },
): Promise<Delivery | undefined> {
  const states = claim.takeOver === false ? (["pending"] as const) : (["delivering", "pending"] as const);
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // One statement: the probe locks its row and SKIP LOCKED sends concurrent claimers past it (as
    // `claimTask` does); with probe-then-update, every lane of every sender probed the same first row.
    for (const state of states) {
      const row = await db
        .updateTable("webhook_deliveries")
        .set(leased(claim))
        .where(
          sql<boolean>`(endpoint_id, event_id) in (${probeDueQuery(db, state, claim.now).forUpdate("d").skipLocked()})`,
        )
        .returningAll()
        .executeTakeFirst();
      if (row) return deliveryFromRow(row);
    }
    return undefined;
  }
  for (let tries = 0; tries < 5; tries++) {
    let lost = false;
    for (const state of states) {
      const target = await probeDueQuery(db, state, claim.now).executeTakeFirst();
      if (target === undefined) continue;
      const row = await db
        .updateTable("webhook_deliveries")
        .set(leased(claim))
        .where("endpoint_id", "=", target.endpoint_id)
        .where("event_id", "=", target.event_id)
        .where("state", "=", state)
        .$if(state === "pending", (q) => q.where("next_attempt_at", "<=", claim.now))
        .$if(state === "delivering", (q) => q.where("lease_until", "<", claim.now))
        .returningAll()
        .executeTakeFirst();
      if (row) return deliveryFromRow(row);
      lost = true;
    }
    if (!lost) return undefined;
  }
  return undefined;
}

/** The columns a claim sets. */
function leased(claim: { readonly owner: string; readonly now: number; readonly leaseMs: number }) {
  return {
    state: "delivering",
    lease_owner: claim.owner,
    lease_until: claim.now + claim.leaseMs,
    update_time: claim.now,
  };
}

/** The first delivery in `state` that may be sent now (see `claimDelivery`). */
function probeDueQuery(db: Executor, state: "pending" | "delivering", now: number) {
  return db
    .selectFrom("webhook_deliveries as d")
    .innerJoin("webhook_endpoints as e", "e.id", "d.endpoint_id")
    .select(["d.endpoint_id", "d.event_id"])
    .where("e.state", "=", "enabled")
    .where("d.state", "=", state)
    .$if(state === "pending", (q) => q.where("d.next_attempt_at", "<=", now))
    .$if(state === "delivering", (q) => q.where("d.lease_until", "<", now))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("webhook_deliveries as p")
            .select(sql.lit(1).as("one"))
            .whereRef("p.endpoint_id", "=", "d.endpoint_id")
            .whereRef("p.job_id", "=", "d.job_id")
            .whereRef("p.event_seq", "<", "d.event_seq")
            .where("p.state", "in", ["pending", "delivering"]),
        ),
      ),
    )
    .orderBy("d.event_seq")
    .limit(1);
}

/** What one attempt got: the receiver's status (null: no answer), how long it took, what it said. */
export interface AttemptResult {
  readonly ok: boolean;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly response: string | null;
  readonly error: string | null;
}

/**
 * Records an attempt of `owner`'s claimed delivery: delivered, or pending again at `retryAt`, or
 * failed for good when `retryAt` is undefined. False when the claim was no longer `owner`'s (its lease
 * ran out and another sender took it), in which case nothing is written.
 */
export async function recordAttempt(
  db: Executor,
  attempt: {
    readonly endpointId: string;
    readonly eventId: string;
    readonly owner: string;
    readonly now: number;
    readonly result: AttemptResult;
    readonly retryAt?: number;
  },
): Promise<boolean> {
  const { result } = attempt;
  const state: DeliveryState = result.ok ? "delivered" : attempt.retryAt === undefined ? "failed" : "pending";
  const updated = await db
    .updateTable("webhook_deliveries")
    .set((eb) => ({
      state,
      attempts: eb("attempts", "+", 1),
      lease_owner: null,
      lease_until: null,
      last_status: result.status,
      last_latency_ms: result.latencyMs,
      last_response: result.response,
      last_error: result.error,
      last_attempt_at: attempt.now,
      ...(result.ok && { delivered_at: attempt.now }),
      ...(attempt.retryAt !== undefined && { next_attempt_at: attempt.retryAt }),
      update_time: attempt.now,
    }))
    .where("endpoint_id", "=", attempt.endpointId)
    .where("event_id", "=", attempt.eventId)
    .where("state", "=", "delivering")
    .where("lease_owner", "=", attempt.owner)
    .executeTakeFirst();
  return updated.numUpdatedRows > 0n;
}

/** An endpoint's deliveries, newest first, optionally in one state, with the total. */
export async function listDeliveries(
  db: Executor,
  query: {
    readonly endpointId: string;
    readonly state?: DeliveryState;
    readonly offset: number;
    readonly limit: number;
  },
): Promise<{ count: number; deliveries: Delivery[] }> {
  const base = db
    .selectFrom("webhook_deliveries")
    .where("endpoint_id", "=", query.endpointId)
    .$if(query.state !== undefined, (q) => q.where("state", "=", query.state as DeliveryState));
  const [{ count }, rows] = await Promise.all([
    base.select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow(),
    base
      .selectAll()
      .orderBy("create_time", "desc")
      .orderBy("event_seq", "desc")
      .offset(query.offset)
      .limit(query.limit)
      .execute(),
  ]);
  return { count: Number(count), deliveries: rows.map(deliveryFromRow) };
}

/**
 * Sends deliveries of an endpoint again, now: those of `eventIds`, or every failed one. A delivery
 * being sent at this moment is left alone. Returns how many were queued.
 */
export async function redeliver(
  db: Executor,
  request: { readonly endpointId: string; readonly eventIds?: readonly string[]; readonly now: number },
): Promise<number> {
  const result = await db
    .updateTable("webhook_deliveries")
    .set({ state: "pending", next_attempt_at: request.now, update_time: request.now })
    .where("endpoint_id", "=", request.endpointId)
    .$if(request.eventIds === undefined, (q) => q.where("state", "=", "failed"))
    .$if(request.eventIds !== undefined, (q) =>
      q.where("event_id", "in", [...(request.eventIds as string[])]).where("state", "!=", "delivering"),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** How many of a project's events one fan-out step reads for one endpoint. */
const FAN_OUT_BATCH = 500;

/**
 * Queues the deliveries of events no endpoint has seen yet: for each endpoint whose project has events
 * past its cursor, the next batch of them that it wants (`wants`) becomes pending deliveries, and the
 * cursor moves past the batch — both in one transaction, the cursor moved only from where it was read,
 * so of two senders doing this at once one wins and the other's transaction changes nothing. Numbers
 * commit in order (see appendEvents), so an event at or below a cursor can never appear later.
 * Returns how many deliveries were queued.
 */
export async function queueNewEvents(
  db: Kysely<DatabaseSchema>,
  wants: (endpoint: WebhookEndpoint, event: { type: string; iceOutcome: string | null }) => boolean,
  now: number,
): Promise<number> {
  const behind = await db
    .selectFrom("webhook_endpoints as e")
    .selectAll("e")
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom("events as ev")
          .select(sql.lit(1).as("one"))
          .whereRef("ev.project_id", "=", "e.project_id")
          .whereRef("ev.seq", ">", "e.queued_through_seq"),
      ),
    )
    .execute();
  let queued = 0;
  for (const row of behind) {
    const endpoint = endpointFromRow(row);
    let cursor = endpoint.queuedThroughSeq;
    for (;;) {
      const step = await db.transaction().execute(async (trx) => {
        const events = await trx
          .selectFrom("events")
          .select(["id", "seq", "job_id", "type", "ice_outcome"])
          .where("project_id", "=", endpoint.projectId)
          .where("seq", ">", cursor)
          .orderBy("seq")
          .limit(FAN_OUT_BATCH)
          .execute();
        const last = events.at(-1);
        if (last === undefined) return undefined;
        const moved = await trx
          .updateTable("webhook_endpoints")
          .set({ queued_through_seq: last.seq })
          .where("id", "=", endpoint.id)
          .where("queued_through_seq", "=", cursor)
          .executeTakeFirst();
        // Another sender moved the cursor first: it queues these; this one stops here.
        if (moved.numUpdatedRows === 0n) return undefined;
        const wanted = events.filter((event) =>
          wants(endpoint, { type: event.type, iceOutcome: event.ice_outcome }),
        );
        if (wanted.length > 0) {
          await trx
            .insertInto("webhook_deliveries")
            .values(
              wanted.map((event) => ({
                endpoint_id: endpoint.id,
                event_id: event.id,
                job_id: event.job_id,
                event_seq: event.seq,
                state: "pending",
                next_attempt_at: now,
                create_time: now,
                update_time: now,
              })),
            )
            .onConflict((oc) => oc.columns(["endpoint_id", "event_id"]).doNothing())
            .execute();
        }
        return { cursor: Number(last.seq), queued: wanted.length, full: events.length === FAN_OUT_BATCH };
      });
      if (step === undefined) break;
      queued += step.queued;
      cursor = step.cursor;
      if (!step.full) break;
    }
  }
  return queued;
}
