import { type Kysely, sql } from "kysely";

/**
 * Events (issue 11): a transactional outbox. Every job state change writes its event in the
 * transaction that makes the change, numbered per project, so a change that commits is announced and
 * one that rolls back never is. Senders queue each event's deliveries to the project's endpoints
 * afterwards, in sequence order, from a cursor per endpoint.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // PostgreSQL: the last sequence number given out per project. Taking the next one updates this row,
  // which holds its lock until commit: numbers commit in order, so a reader that has seen n never later
  // finds a smaller one appear (what Last-Event-ID resume and the webhooks' cursors rely on). SQLite
  // does not read it: its single writer makes `max(seq) + 1` commit in order already. Every project has
  // its row (made with the project), so taking numbers is a plain UPDATE.
  await db.schema
    .createTable("event_sequences")
    .addColumn("project_id", "varchar(64)", (c) =>
      c.primaryKey().references("projects.id").onDelete("cascade"),
    )
    .addColumn("last_seq", "bigint", (c) => c.notNull())
    .execute();
  await sql`insert into event_sequences (project_id, last_seq) select id, 0 from projects`.execute(db);

  await db.schema
    .createTable("events")
    .addColumn("id", "char(32)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("seq", "bigint", (c) => c.notNull())
    // No foreign key: a job's events outlive it (its deletion is an event too).
    .addColumn("job_id", "char(32)")
    .addColumn("type", "varchar(48)", (c) => c.notNull())
    // 'Success' or 'Fail' when the event ends a training in ICE's terms (what ICE's callback announces).
    .addColumn("ice_outcome", "varchar(8)")
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .execute();
  // The stream's read (a project's events after a sequence number) and the numbering's max(seq). One
  // job's stream reads the same range and filters: a reader is never far behind, and an index more
  // would cost every state change a B-tree write (bench:events).
  await db.schema
    .createIndex("events_project_seq")
    .on("events")
    .columns(["project_id", "seq"])
    .unique()
    .execute();

  await db.schema
    .createTable("webhook_endpoints")
    .addColumn("id", "char(32)", (c) => c.primaryKey())
    .addColumn("project_id", "varchar(64)", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    // 'standard': Doppel's webhooks signed per Standard Webhooks; 'ice': the project's ICE event callback.
    .addColumn("kind", "varchar(16)", (c) => c.notNull())
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("description", "text")
    // JSON array of event types; empty means every type.
    .addColumn("event_types", "text", (c) => c.notNull())
    // Sealed with the server key (auth/secret-box.ts). Standard: the whsec_ secret; ICE: the AuthKey or null.
    .addColumn("secret_sealed", "text")
    // After a rotation the old secret signs too, until it expires, so receivers can switch over.
    .addColumn("previous_secret_sealed", "text")
    .addColumn("previous_secret_until", "bigint")
    // ICE's AuthSwitch: 1 when callbacks carry X-ICE-TIMESTAMP / X-ICE-SIGNATURE (null for webhooks).
    .addColumn("auth_switch", "integer")
    .addColumn("state", "varchar(16)", (c) => c.notNull())
    .addColumn("disabled_reason", "text")
    // Since when every attempt has failed (null while the last one succeeded): what auto-disable measures.
    .addColumn("failing_since", "bigint")
    // The project's events up to this number have their deliveries queued (the sender moves it on), so
    // a state change writes only its event, whatever the number of endpoints.
    .addColumn("queued_through_seq", "bigint", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("update_time", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("webhook_endpoints_project")
    .on("webhook_endpoints")
    .columns(["project_id"])
    .execute();
  // ICE's event callback is one per account (here: per project).
  await sql`create unique index webhook_endpoints_ice on webhook_endpoints (project_id) where kind = 'ice'`.execute(
    db,
  );

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("endpoint_id", "char(32)", (c) =>
      c.notNull().references("webhook_endpoints.id").onDelete("cascade"),
    )
    .addColumn("event_id", "char(32)", (c) => c.notNull().references("events.id").onDelete("cascade"))
    // Copied from the event so the in-order rule (below) reads one table.
    .addColumn("job_id", "char(32)")
    .addColumn("event_seq", "bigint", (c) => c.notNull())
    // pending → delivering (leased) → delivered | failed (retries used up); pending again on a retry.
    .addColumn("state", "varchar(16)", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("lease_owner", "varchar(128)")
    .addColumn("lease_until", "bigint")
    .addColumn("last_status", "integer")
    .addColumn("last_latency_ms", "integer")
    .addColumn("last_response", "text")
    .addColumn("last_error", "text")
    .addColumn("last_attempt_at", "bigint")
    .addColumn("delivered_at", "bigint")
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("update_time", "bigint", (c) => c.notNull())
    // One delivery per endpoint and event; a manual redelivery sends the same row again.
    .addPrimaryKeyConstraint("webhook_deliveries_pk", ["endpoint_id", "event_id"])
    .execute();
  // The claim's probe walks a state's deliveries oldest event first and stops at the first that is
  // due (and not waiting behind an earlier event of its job). Ordered by time of the next attempt
  // instead, a backlog of deliveries due at the same instant had to be sorted on every claim.
  await db.schema
    .createIndex("webhook_deliveries_due")
    .on("webhook_deliveries")
    .columns(["state", "event_seq"])
    .execute();
  // The in-order rule: an endpoint gets a job's events one after the other.
  await db.schema
    .createIndex("webhook_deliveries_order")
    .on("webhook_deliveries")
    .columns(["endpoint_id", "job_id", "event_seq"])
    .execute();
  // The delivery log, newest first.
  await db.schema
    .createIndex("webhook_deliveries_log")
    .on("webhook_deliveries")
    .columns(["endpoint_id", "create_time"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("webhook_deliveries").execute();
  await db.schema.dropTable("webhook_endpoints").execute();
  await db.schema.dropTable("events").execute();
  await db.schema.dropTable("event_sequences").execute();
}
