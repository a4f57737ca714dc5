import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { eventJson } from "../../../domain/events.js";
import type { Caller } from "../../../services/caller.js";
import type { ServiceContext } from "../../../services/context.js";
import {
  openEventStream,
  parseEventCursor,
  readEventPage,
  readEvents,
} from "../../../services/events.service.js";
import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  redeliverWebhook,
  requireWebhook,
  rotateWebhookSecret,
  updateWebhook,
} from "../../../services/webhooks.service.js";
import { EmptyBody } from "../../schemas/empty-body.js";
import { ErrorSchema } from "../../schemas/error-body.js";
import { strictIntegerQuery } from "../../schemas/strict-integers.js";
import { presentDelivery, presentWebhook } from "./event-presenter.js";
import {
  CreateWebhookBodySchema,
  EventsQuerySchema,
  ListDeliveriesQuerySchema,
  ListDeliveriesResponseSchema,
  ListEventsResponseSchema,
  ListWebhooksResponseSchema,
  RedeliverBodySchema,
  RedeliverResponseSchema,
  UpdateWebhookBodySchema,
  WebhookParamsSchema,
  WebhookSchema,
} from "./event-schemas.js";
import { ProjectParamsSchema } from "./schemas.js";

export const WEBHOOKS_PATH = "/v1/:project_id/doppel/webhooks";
export const EVENTS_PATH = "/v1/:project_id/doppel/events";

const TAG = "Events and webhooks (Doppel)";
const errors = { "4xx": ErrorSchema, "5xx": ErrorSchema };

/**
 * Doppel's events API beside MetaStudio's paths (MetaStudio itself has no webhooks): webhooks per
 * project with their delivery log, and the project's events as a page or a live Server-Sent Events
 * stream. Registered inside the MetaStudio plugin, so it shares its authentication and error envelope.
 */
export function eventRoutes(
  parent: FastifyInstance,
  ctx: ServiceContext,
  callerOf: (request: FastifyRequest) => Caller,
): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    WEBHOOKS_PATH,
    {
      schema: {
        operationId: "CreateWebhook",
        summary: "Create a webhook",
        description: "Answers with its signing secret, shown this once.",
        tags: [TAG],
        params: ProjectParamsSchema,
        body: CreateWebhookBodySchema,
        response: { 201: WebhookSchema, ...errors },
      },
    },
    async (request, reply) => {
      const view = await createWebhook(ctx, callerOf(request), request.body);
      return reply.code(201).send(presentWebhook(view));
    },
  );

  app.get(
    WEBHOOKS_PATH,
    {
      schema: {
        operationId: "ListWebhooks",
        summary: "List webhooks",
        tags: [TAG],
        params: ProjectParamsSchema,
        response: { 200: ListWebhooksResponseSchema, ...errors },
      },
    },
    async (request) => {
      const endpoints = await listWebhooks(ctx, callerOf(request));
      return { count: endpoints.length, webhooks: endpoints.map((endpoint) => presentWebhook({ endpoint })) };
    },
  );

  app.get(
    `${WEBHOOKS_PATH}/:webhook_id`,
    {
      schema: {
        operationId: "ShowWebhook",
        summary: "Show a webhook",
        tags: [TAG],
        params: WebhookParamsSchema,
        response: { 200: WebhookSchema, ...errors },
      },
    },
    async (request) =>
      presentWebhook({ endpoint: await requireWebhook(ctx, callerOf(request), request.params.webhook_id) }),
  );

  app.put(
    `${WEBHOOKS_PATH}/:webhook_id`,
    {
      schema: {
        operationId: "UpdateWebhook",
        summary: "Change a webhook, or disable / enable it",
        tags: [TAG],
        params: WebhookParamsSchema,
        body: UpdateWebhookBodySchema,
        response: { 200: WebhookSchema, ...errors },
      },
    },
    async (request) =>
      presentWebhook(await updateWebhook(ctx, callerOf(request), request.params.webhook_id, request.body)),
  );

  app.delete(
    `${WEBHOOKS_PATH}/:webhook_id`,
    {
      schema: {
        operationId: "DeleteWebhook",
        summary: "Delete a webhook and its undelivered events",
        tags: [TAG],
        params: WebhookParamsSchema,
        response: { 204: EmptyBody("Deleted; no body"), ...errors },
      },
    },
    async (request, reply) => {
      await deleteWebhook(ctx, callerOf(request), request.params.webhook_id);
      return reply.code(204).send();
    },
  );

  app.post(
    `${WEBHOOKS_PATH}/:webhook_id/rotate-secret`,
    {
      schema: {
        operationId: "RotateWebhookSecret",
        summary: "Give a webhook a new secret",
        description: "The old secret signs beside the new one for 24 hours, so receivers can switch over.",
        tags: [TAG],
        params: WebhookParamsSchema,
        response: { 200: WebhookSchema, ...errors },
      },
    },
    async (request) =>
      presentWebhook(await rotateWebhookSecret(ctx, callerOf(request), request.params.webhook_id)),
  );

  app.get(
    `${WEBHOOKS_PATH}/:webhook_id/deliveries`,
    {
      preValidation: strictIntegerQuery(ListDeliveriesQuerySchema),
      schema: {
        operationId: "ListWebhookDeliveries",
        summary: "A webhook's delivery log, newest first",
        tags: [TAG],
        params: WebhookParamsSchema,
        querystring: ListDeliveriesQuerySchema,
        response: { 200: ListDeliveriesResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { count, deliveries } = await listWebhookDeliveries(
        ctx,
        callerOf(request),
        request.params.webhook_id,
        request.query,
      );
      return { count, deliveries: deliveries.map(presentDelivery) };
    },
  );

  app.post(
    `${WEBHOOKS_PATH}/:webhook_id/redeliver`,
    {
      schema: {
        operationId: "RedeliverWebhookEvents",
        summary: "Send events to a webhook again",
        tags: [TAG],
        params: WebhookParamsSchema,
        body: RedeliverBodySchema,
        response: { 200: RedeliverResponseSchema, ...errors },
      },
    },
    async (request) => ({
      queued: await redeliverWebhook(
        ctx,
        callerOf(request),
        request.params.webhook_id,
        request.body.event_ids,
      ),
    }),
  );

  const streams = new Set<AbortController>();
  // An open stream never falls idle: end each when the server closes, or the close would wait on it.
  app.addHook("preClose", async () => {
    for (const stream of streams) stream.abort();
  });

  app.get(
    EVENTS_PATH,
    {
      preValidation: strictIntegerQuery(EventsQuerySchema),
      schema: {
        operationId: "ListEvents",
        summary: "The project's events, as a page or a live stream",
        description:
          "With `Accept: text/event-stream`, a Server-Sent Events stream: each event's `id` is its sequence number, so a reconnecting client's Last-Event-ID resumes where it left off; comment lines keep an idle stream alive. Otherwise a page of events after `after`.",
        tags: [TAG],
        params: ProjectParamsSchema,
        querystring: EventsQuerySchema,
        response: { 200: ListEventsResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const lastEventId = request.headers["last-event-id"];
      const after = parseEventCursor(
        lastEventId === undefined ? "after" : "Last-Event-ID",
        typeof lastEventId === "string" ? lastEventId : request.query.after,
      );
      const query = { after, jobId: request.query.job_id, limit: request.query.limit };
      if (!(request.headers.accept ?? "").includes("text/event-stream")) {
        const events = await readEventPage(ctx, caller, query);
        return { events: events.map(eventJson), last_sequence: events.at(-1)?.seq ?? after };
      }
      await openEventStream(ctx, caller, query.jobId);
      const stop = new AbortController();
      streams.add(stop);
      try {
        await streamEvents(ctx, caller, query, request, reply, stop.signal);
      } finally {
        streams.delete(stop);
      }
      return reply;
    },
  );
}

/** How often an open stream looks for new events. */
const STREAM_POLL_MS = 250;

/**
 * Writes the caller's events after `query.after` as Server-Sent Events until the client goes or the
 * server closes: each with `id:` its sequence number, `event:` its type and `data:` its JSON, and a
 * comment line every heartbeat interval while nothing happens.
 */
async function streamEvents(
  ctx: ServiceContext,
  caller: Caller,
  query: { after: number; jobId?: string | undefined; limit: number },
  request: FastifyRequest,
  reply: FastifyReply,
  serverClosing: AbortSignal,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    // nginx and others buffer responses unless told not to; a stream must pass each event at once.
    "x-accel-buffering": "no",
    "x-request-id": request.id.replaceAll("-", ""),
  });
  const gone = new AbortController();
  const end = () => gone.abort();
  res.on("close", end);
  serverClosing.addEventListener("abort", end);
  const write = async (text: string) => {
    if (!res.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          gone.signal.removeEventListener("abort", done);
          resolve();
        };
        res.on("drain", done);
        gone.signal.addEventListener("abort", done);
      });
    }
  };
  let after = query.after;
  let lastWrite = Date.now();
  try {
    await write(`retry: 2000\n: events after ${after}\n\n`);
    while (!gone.signal.aborted) {
      const events = await readEvents(ctx, caller, { ...query, after, limit: 500 });
      for (const event of events) {
        await write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(eventJson(event))}\n\n`);
        after = event.seq;
        lastWrite = Date.now();
      }
      if (events.length === 500) continue;
      if (Date.now() - lastWrite >= ctx.config.webhooks.heartbeatMs) {
        await write(": heartbeat\n\n");
        lastWrite = Date.now();
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, STREAM_POLL_MS);
        function done() {
          clearTimeout(timer);
          gone.signal.removeEventListener("abort", done);
          resolve();
        }
        gone.signal.addEventListener("abort", done);
      });
    }
  } catch (error) {
    request.log.warn({ err: error }, "event stream ended by an error");
  } finally {
    res.off("close", end);
    serverClosing.removeEventListener("abort", end);
    res.end();
  }
}
