import type { Kysely, Selectable, Transaction } from "kysely";
import type { DatabaseSchema, WebhookEndpointsTable } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export type EndpointKind = "standard" | "ice";
export type EndpointState = "enabled" | "disabled";

/** A place events are sent: a Doppel webhook or a project's ICE event callback. */
export interface WebhookEndpoint {
  readonly id: string;
  readonly projectId: string;
  readonly kind: EndpointKind;
  readonly url: string;
  readonly description: string | null;
  readonly eventTypes: readonly string[];
  readonly secretSealed: string | null;
  readonly previousSecretSealed: string | null;
  readonly previousSecretUntil: number | null;
  /** ICE's AuthSwitch (false for webhooks, which are always signed). */
  readonly authSwitch: boolean;
  readonly state: EndpointState;
  readonly disabledReason: string | null;
  readonly failingSince: number | null;
  /** The project's events up to this number have had their deliveries to this endpoint queued. */
  readonly queuedThroughSeq: number;
  readonly createTime: number;
  readonly updateTime: number;
}

export function endpointFromRow(row: Selectable<WebhookEndpointsTable>): WebhookEndpoint {
  const time = (value: number | null) => (value === null ? null : Number(value));
  return {
    id: row.id,
    projectId: row.project_id,
    kind: row.kind as EndpointKind,
    url: row.url,
    description: row.description,
    eventTypes: JSON.parse(row.event_types) as string[],
    secretSealed: row.secret_sealed,
    previousSecretSealed: row.previous_secret_sealed,
    previousSecretUntil: time(row.previous_secret_until),
    authSwitch: row.auth_switch === 1,
    state: row.state as EndpointState,
    disabledReason: row.disabled_reason,
    failingSince: time(row.failing_since),
    queuedThroughSeq: Number(row.queued_through_seq),
    createTime: Number(row.create_time),
    updateTime: Number(row.update_time),
  };
}

export async function insertEndpoint(db: Executor, endpoint: WebhookEndpoint): Promise<void> {
  await db
    .insertInto("webhook_endpoints")
    .values({
      id: endpoint.id,
      project_id: endpoint.projectId,
      kind: endpoint.kind,
      url: endpoint.url,
      description: endpoint.description,
      event_types: JSON.stringify(endpoint.eventTypes),
      secret_sealed: endpoint.secretSealed,
      previous_secret_sealed: endpoint.previousSecretSealed,
      previous_secret_until: endpoint.previousSecretUntil,
      auth_switch: endpoint.kind === "ice" ? Number(endpoint.authSwitch) : null,
      state: endpoint.state,
      disabled_reason: endpoint.disabledReason,
      failing_since: endpoint.failingSince,
      queued_through_seq: endpoint.queuedThroughSeq,
      create_time: endpoint.createTime,
      update_time: endpoint.updateTime,
    })
    .execute();
}

/** A project's endpoints of `kind`, oldest first. */
export async function listEndpoints(
  db: Executor,
  projectId: string,
  kind: EndpointKind,
): Promise<WebhookEndpoint[]> {
  const rows = await db
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("kind", "=", kind)
    .orderBy("create_time")
    .orderBy("id")
    .execute();
  return rows.map(endpointFromRow);
}

/** One endpoint of a project, or undefined. */
export async function findEndpoint(
  db: Executor,
  projectId: string,
  endpointId: string,
  kind: EndpointKind,
): Promise<WebhookEndpoint | undefined> {
  const row = await db
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("id", "=", endpointId)
    .where("project_id", "=", projectId)
    .where("kind", "=", kind)
    .executeTakeFirst();
  return row === undefined ? undefined : endpointFromRow(row);
}

/** The endpoint by id alone, for the sender. */
export async function findEndpointById(
  db: Executor,
  endpointId: string,
): Promise<WebhookEndpoint | undefined> {
  const row = await db
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("id", "=", endpointId)
    .executeTakeFirst();
  return row === undefined ? undefined : endpointFromRow(row);
}

/** Changes an endpoint's settings; false when it is gone. */
export async function updateEndpoint(
  db: Executor,
  endpointId: string,
  patch: Partial<
    Pick<
      WebhookEndpoint,
      | "url"
      | "description"
      | "eventTypes"
      | "secretSealed"
      | "previousSecretSealed"
      | "previousSecretUntil"
      | "authSwitch"
      | "state"
      | "disabledReason"
      | "failingSince"
    >
  >,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable("webhook_endpoints")
    .set({
      ...(patch.url !== undefined && { url: patch.url }),
      ...(patch.description !== undefined && { description: patch.description }),
      ...(patch.eventTypes !== undefined && { event_types: JSON.stringify(patch.eventTypes) }),
      ...(patch.secretSealed !== undefined && { secret_sealed: patch.secretSealed }),
      ...(patch.previousSecretSealed !== undefined && { previous_secret_sealed: patch.previousSecretSealed }),
      ...(patch.previousSecretUntil !== undefined && { previous_secret_until: patch.previousSecretUntil }),
      ...(patch.authSwitch !== undefined && { auth_switch: Number(patch.authSwitch) }),
      ...(patch.state !== undefined && { state: patch.state }),
      ...(patch.disabledReason !== undefined && { disabled_reason: patch.disabledReason }),
      ...(patch.failingSince !== undefined && { failing_since: patch.failingSince }),
      update_time: now,
    })
    .where("id", "=", endpointId)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteEndpoint(db: Executor, endpointId: string): Promise<boolean> {
  const result = await db.deleteFrom("webhook_endpoints").where("id", "=", endpointId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
