import { randomBytes } from "node:crypto";
import { DoppelError, invalidParameter } from "../domain/errors.js";
import { EVENT_TYPES, isEventType } from "../domain/events.js";
import { isHexId, newJobId } from "../domain/job.js";
import { checkWebhookUrl } from "../pipeline/address-guard.js";
import { lastEventSeq } from "../store/event.repository.js";
import {
  deleteEndpoint,
  findEndpoint,
  insertEndpoint,
  listEndpoints,
  updateEndpoint,
  type WebhookEndpoint,
} from "../store/webhook.repository.js";
import {
  type Delivery,
  type DeliveryState,
  listDeliveries,
  redeliver,
} from "../store/webhook-delivery.repository.js";
import { type Caller, requireWholeProject } from "./caller.js";
import type { ServiceContext } from "./context.js";

/** Webhooks per project (Doppel's own API): signed per Standard Webhooks, retried, logged. */

/** How long a rotated-out secret keeps signing beside the new one. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 3600 * 1000;

const MAX_WEBHOOKS_PER_PROJECT = 20;

/** A new Standard Webhooks secret: `whsec_` and 24 random bytes in base64. */
function newSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

function parseEventTypes(types: readonly string[] | undefined): string[] {
  const list = [...new Set(types ?? [])];
  for (const type of list) {
    if (!isEventType(type))
      throw invalidParameter("events", `${JSON.stringify(type)} is not one of ${EVENT_TYPES.join(", ")}`);
  }
  return list;
}

function parseDescription(description: string | undefined): string | null {
  if (description === undefined) return null;
  if (description.length > 512) throw invalidParameter("description", "longer than 512 characters");
  return description;
}

/**
 * A new, enabled endpoint (a webhook or an ICE callback) with nothing sent yet, that gets the project's
 * events from now on: the ones before it existed are not sent to it.
 */
export async function newEndpoint(
  ctx: ServiceContext,
  fields: Pick<
    WebhookEndpoint,
    "projectId" | "kind" | "url" | "description" | "eventTypes" | "secretSealed" | "authSwitch"
  >,
): Promise<WebhookEndpoint> {
  const now = ctx.now();
  return {
    ...fields,
    id: newJobId(now),
    previousSecretSealed: null,
    previousSecretUntil: null,
    state: "enabled",
    disabledReason: null,
    failingSince: null,
    queuedThroughSeq: await lastEventSeq(ctx.database.db, fields.projectId),
    createTime: now,
    updateTime: now,
  };
}

/** A webhook as shown, and its secret when it was just made or rotated (shown once). */
export interface WebhookView {
  readonly endpoint: WebhookEndpoint;
  readonly secret?: string;
}

/** Creates a webhook in the caller's project; its secret is in the answer and never again. */
export async function createWebhook(
  ctx: ServiceContext,
  caller: Caller,
  input: { readonly url: string; readonly events?: readonly string[]; readonly description?: string },
): Promise<WebhookView> {
  requireWholeProject(caller, "webhooks");
  const url = await checkWebhookUrl("url", input.url, ctx.config.webhooks.allowedNetworks);
  const eventTypes = parseEventTypes(input.events);
  const description = parseDescription(input.description);
  const projectId = caller.principal.projectId;
  const existing = await listEndpoints(ctx.database.db, projectId, "standard");
  if (existing.length >= MAX_WEBHOOKS_PER_PROJECT) {
    throw new DoppelError(
      "FORBIDDEN",
      `A project has at most ${MAX_WEBHOOKS_PER_PROJECT} webhooks; delete one first`,
    );
  }
  const secret = newSecret();
  const endpoint = await newEndpoint(ctx, {
    projectId,
    kind: "standard",
    url: url.href,
    description,
    eventTypes,
    secretSealed: ctx.secrets.seal(secret),
    authSwitch: false,
  });
  await insertEndpoint(ctx.database.db, endpoint);
  return { endpoint, secret };
}

export function listWebhooks(ctx: ServiceContext, caller: Caller): Promise<WebhookEndpoint[]> {
  requireWholeProject(caller, "webhooks");
  return listEndpoints(ctx.database.db, caller.principal.projectId, "standard");
}

/** One of the caller's webhooks, or WEBHOOK_NOT_FOUND. */
export async function requireWebhook(
  ctx: ServiceContext,
  caller: Caller,
  webhookId: string,
): Promise<WebhookEndpoint> {
  requireWholeProject(caller, "webhooks");
  // Only Doppel's ids can name one; anything else (a NUL byte breaks PostgreSQL's text) is not found.
  const endpoint = isHexId(webhookId)
    ? await findEndpoint(ctx.database.db, caller.principal.projectId, webhookId, "standard")
    : undefined;
  if (endpoint === undefined) {
    throw new DoppelError(
      "WEBHOOK_NOT_FOUND",
      `Webhook ${webhookId.slice(0, 64)} does not exist in this project`,
    );
  }
  return endpoint;
}

/** Deletes a webhook; its pending deliveries go with it. */
export async function deleteWebhook(ctx: ServiceContext, caller: Caller, webhookId: string): Promise<void> {
  const endpoint = await requireWebhook(ctx, caller, webhookId);
  await deleteEndpoint(ctx.database.db, endpoint.id);
}

/** Changes a webhook's URL, events, description, or state (enabling one clears its failure record). */
export async function updateWebhook(
  ctx: ServiceContext,
  caller: Caller,
  webhookId: string,
  input: {
    readonly url?: string;
    readonly events?: readonly string[];
    readonly description?: string;
    readonly enabled?: boolean;
  },
): Promise<WebhookView> {
  const endpoint = await requireWebhook(ctx, caller, webhookId);
  const url =
    input.url === undefined
      ? undefined
      : (await checkWebhookUrl("url", input.url, ctx.config.webhooks.allowedNetworks)).href;
  const now = ctx.now();
  const patch = {
    ...(url !== undefined && { url }),
    ...(input.events !== undefined && { eventTypes: parseEventTypes(input.events) }),
    ...(input.description !== undefined && { description: parseDescription(input.description) }),
    ...(input.enabled === true && { state: "enabled" as const, disabledReason: null, failingSince: null }),
    ...(input.enabled === false && { state: "disabled" as const, disabledReason: "disabled by the user" }),
  };
  await updateEndpoint(ctx.database.db, endpoint.id, patch, now);
  return { endpoint: await requireWebhook(ctx, caller, webhookId) };
}

/** A new secret; the old one keeps signing beside it for a day so receivers can switch over. */
export async function rotateWebhookSecret(
  ctx: ServiceContext,
  caller: Caller,
  webhookId: string,
): Promise<WebhookView> {
  const endpoint = await requireWebhook(ctx, caller, webhookId);
  const now = ctx.now();
  const secret = newSecret();
  await updateEndpoint(
    ctx.database.db,
    endpoint.id,
    {
      secretSealed: ctx.secrets.seal(secret),
      previousSecretSealed: endpoint.secretSealed,
      previousSecretUntil: now + PREVIOUS_SECRET_GRACE_MS,
    },
    now,
  );
  return { endpoint: await requireWebhook(ctx, caller, webhookId), secret };
}

const DELIVERY_STATES: readonly DeliveryState[] = ["pending", "delivering", "delivered", "failed"];

/** A webhook's delivery log, newest first. */
export async function listWebhookDeliveries(
  ctx: ServiceContext,
  caller: Caller,
  webhookId: string,
  query: { readonly state?: string; readonly offset: number; readonly limit: number },
): Promise<{ count: number; deliveries: Delivery[] }> {
  const endpoint = await requireWebhook(ctx, caller, webhookId);
  if (query.state !== undefined && !(DELIVERY_STATES as readonly string[]).includes(query.state)) {
    throw invalidParameter("state", `must be one of ${DELIVERY_STATES.join(", ")}`);
  }
  return listDeliveries(ctx.database.db, {
    endpointId: endpoint.id,
    ...(query.state !== undefined && { state: query.state as DeliveryState }),
    offset: query.offset,
    limit: query.limit,
  });
}

/** Sends again, now, the deliveries of the given events, or every failed one. Returns how many. */
export async function redeliverWebhook(
  ctx: ServiceContext,
  caller: Caller,
  webhookId: string,
  eventIds: readonly string[] | undefined,
): Promise<number> {
  const endpoint = await requireWebhook(ctx, caller, webhookId);
  const notAnId = eventIds?.find((id) => !isHexId(id));
  if (notAnId !== undefined)
    throw invalidParameter("event_ids", `${JSON.stringify(notAnId.slice(0, 70))} is not an event id`);
  if (eventIds !== undefined && eventIds.length === 0) return 0;
  return redeliver(ctx.database.db, {
    endpointId: endpoint.id,
    ...(eventIds !== undefined && { eventIds }),
    now: ctx.now(),
  });
}
