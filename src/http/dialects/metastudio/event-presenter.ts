import type { Static } from "@sinclair/typebox";
import { withoutUndefined } from "../../../domain/objects.js";
import { formatUtcSeconds } from "../../../domain/time.js";
import type { WebhookView } from "../../../services/webhooks.service.js";
import type { Delivery } from "../../../store/webhook-delivery.repository.js";
import type { DeliverySchema, WebhookSchema } from "./event-schemas.js";

/** A webhook as the events API shows it; its secret only when it was just made or rotated. */
export function presentWebhook({ endpoint, secret }: WebhookView): Static<typeof WebhookSchema> {
  return withoutUndefined({
    webhook_id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description ?? undefined,
    events: [...endpoint.eventTypes],
    state: endpoint.state,
    disabled_reason: endpoint.disabledReason ?? undefined,
    failing_since: time(endpoint.failingSince),
    secret,
    previous_secret_expires_at:
      secret !== undefined && endpoint.previousSecretUntil !== null
        ? time(endpoint.previousSecretUntil)
        : undefined,
    create_time: formatUtcSeconds(endpoint.createTime),
    update_time: formatUtcSeconds(endpoint.updateTime),
  }) as Static<typeof WebhookSchema>;
}

/** One line of a webhook's delivery log. */
export function presentDelivery(delivery: Delivery): Static<typeof DeliverySchema> {
  return withoutUndefined({
    event_id: delivery.eventId,
    sequence: delivery.eventSeq,
    job_id: delivery.jobId ?? undefined,
    state: delivery.state,
    attempts: delivery.attempts,
    next_attempt_time: delivery.state === "pending" ? time(delivery.nextAttemptAt) : undefined,
    last_attempt_time: time(delivery.lastAttemptAt),
    last_status: delivery.lastStatus ?? undefined,
    last_latency_ms: delivery.lastLatencyMs ?? undefined,
    last_response: delivery.lastResponse ?? undefined,
    last_error: delivery.lastError ?? undefined,
    delivered_time: time(delivery.deliveredAt),
    create_time: formatUtcSeconds(delivery.createTime),
  }) as Static<typeof DeliverySchema>;
}

function time(ms: number | null): string | undefined {
  return ms === null ? undefined : formatUtcSeconds(ms);
}
