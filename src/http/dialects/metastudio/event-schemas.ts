import { type Static, Type } from "@sinclair/typebox";
import { EVENT_TYPES } from "../../../domain/events.js";
import { StringEnum } from "../../schemas/string-enum.js";

/** Schemas of Doppel's events API (webhooks and the event stream), beside MetaStudio's paths. */

export const WebhookParamsSchema = Type.Object({
  project_id: Type.String({ minLength: 1, maxLength: 64 }),
  webhook_id: Type.String({ minLength: 1, maxLength: 64 }),
});

const EventTypeSchema = StringEnum([...EVENT_TYPES]);

export const CreateWebhookBodySchema = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: "http(s) URL that receives the events" }),
    events: Type.Optional(
      Type.Array(EventTypeSchema, { maxItems: 16, description: "Event types to send; absent or empty: all" }),
    ),
    description: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBodySchema>;

export const UpdateWebhookBodySchema = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    events: Type.Optional(Type.Array(EventTypeSchema, { maxItems: 16 })),
    description: Type.Optional(Type.String({ maxLength: 512 })),
    enabled: Type.Optional(
      Type.Boolean({ description: "false disables the webhook; true enables it again" }),
    ),
  },
  { additionalProperties: false },
);
export type UpdateWebhookBody = Static<typeof UpdateWebhookBodySchema>;

export const WebhookSchema = Type.Object({
  webhook_id: Type.String(),
  url: Type.String(),
  description: Type.Optional(Type.String()),
  events: Type.Array(Type.String()),
  state: StringEnum(["enabled", "disabled"]),
  disabled_reason: Type.Optional(Type.String()),
  failing_since: Type.Optional(Type.String()),
  /** Shown once: in the answer of a create or a rotation. */
  secret: Type.Optional(Type.String({ description: "whsec_… signing secret; shown only when made" })),
  previous_secret_expires_at: Type.Optional(Type.String()),
  create_time: Type.String(),
  update_time: Type.String(),
});

export const ListWebhooksResponseSchema = Type.Object({
  count: Type.Integer(),
  webhooks: Type.Array(WebhookSchema),
});

export const ListDeliveriesQuerySchema = Type.Object({
  state: Type.Optional(StringEnum(["pending", "delivering", "delivered", "failed"])),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

export const DeliverySchema = Type.Object({
  event_id: Type.String(),
  sequence: Type.Integer(),
  job_id: Type.Optional(Type.String()),
  state: StringEnum(["pending", "delivering", "delivered", "failed"]),
  attempts: Type.Integer(),
  next_attempt_time: Type.Optional(Type.String()),
  last_attempt_time: Type.Optional(Type.String()),
  last_status: Type.Optional(Type.Integer()),
  last_latency_ms: Type.Optional(Type.Integer()),
  last_response: Type.Optional(Type.String()),
  last_error: Type.Optional(Type.String()),
  delivered_time: Type.Optional(Type.String()),
  create_time: Type.String(),
});

export const ListDeliveriesResponseSchema = Type.Object({
  count: Type.Integer(),
  deliveries: Type.Array(DeliverySchema),
});

export const RedeliverBodySchema = Type.Object(
  {
    event_ids: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 1000,
        description: "Events to send again; absent: every failed delivery",
      }),
    ),
  },
  { additionalProperties: false },
);

export const RedeliverResponseSchema = Type.Object({ queued: Type.Integer() });

export const EventsQuerySchema = Type.Object({
  job_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Only this job's events" })),
  after: Type.Optional(
    Type.String({
      maxLength: 16,
      description: "Events after this sequence number (the stream reads Last-Event-ID)",
    }),
  ),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});

export const EventSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  timestamp: Type.String(),
  project_id: Type.String(),
  sequence: Type.Integer(),
  data: Type.Object(
    {
      job_id: Type.String(),
      job_name: Type.Optional(Type.String()),
      old_state: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      new_state: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      ice: Type.Optional(
        Type.Object({
          old_status: Type.Union([Type.String(), Type.Null()]),
          new_status: Type.Union([Type.String(), Type.Null()]),
        }),
      ),
      operate_user: Type.Optional(Type.String()),
      log_type: Type.Optional(Type.String()),
      description: Type.Optional(Type.String()),
      error_code: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      reasons: Type.Optional(Type.Array(Type.String())),
      asset_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    },
    { additionalProperties: false },
  ),
});

export const ListEventsResponseSchema = Type.Object({
  events: Type.Array(EventSchema),
  /** The sequence number to ask `after` next (the last one returned, or the one asked). */
  last_sequence: Type.Integer(),
});
