import { type Command, InvalidArgumentError } from "commander";
import { EVENT_TYPES } from "../domain/events.js";
import type { ClientFlags } from "./api-client.js";
import type { DeliveryInfo, WebhookInfo } from "./api-types.js";
import { clientOf, commaListArg, hexIdArg, integer, withClientFlags } from "./client-flags.js";
import { clip, fieldLines, pageText, printResult, tableLines } from "./job-output.js";

/** The states of a delivery, as the delivery log filters them. */
const DELIVERY_STATES: readonly DeliveryInfo["state"][] = ["pending", "delivering", "delivered", "failed"];

const ABOUT = `
A webhook receives the project's events (${EVENT_TYPES.join(", ")}) as signed POSTs, per
Standard Webhooks (webhook-id, webhook-timestamp and webhook-signature headers; verify them with the
secret \`create\` prints, shown only then). A delivery that fails is retried with backoff; \`deliveries\`
shows what was sent and what the receiver answered, \`redeliver\` sends events again. The server refuses
URLs on private, loopback or link-local addresses unless its operator allows them with
DOPPEL_WEBHOOK_ALLOW_NETWORKS.`;

/** `doppel webhook …`: a project's webhooks on a running Doppel, through its events API. */
export function registerWebhookCommands(program: Command): void {
  const webhook = program
    .command("webhook")
    .description("create, list, show, change and delete webhooks, and see and redo their deliveries")
    .addHelpText("after", ABOUT);

  withClientFlags(webhook.command("create").description("create a webhook; prints its secret, once"))
    .requiredOption("--url <url>", "http(s) URL that receives the events")
    .option(
      "--events <types>",
      `only these event types (comma-separated: ${EVENT_TYPES.join(", ")}; default all)`,
      commaListArg(EVENT_TYPES, "event type"),
    )
    .option("--description <text>", "what the webhook is for (up to 512 characters)")
    .option("--json", "print the API's JSON (with the secret)")
    .action(async (opts: CreateOpts, command: Command) => {
      const created = await clientOf(command).createWebhook({
        url: opts.url,
        ...(opts.events !== undefined && { events: opts.events.split(",") }),
        ...(opts.description !== undefined && { description: opts.description }),
      });
      printResult(
        opts.json,
        created,
        [
          `created webhook ${created.webhook_id}: ${created.url} (${eventsText(created)})`,
          `secret: ${created.secret ?? "(none returned)"}`,
          "The secret is shown only this once: keep it where the receiver verifies signatures (`doppel webhook rotate-secret` makes a new one).",
        ].join("\n"),
      );
    });

  withClientFlags(webhook.command("list").description("list the project's webhooks"))
    .option("--json", "print the API's JSON")
    .action(async (opts: { json?: boolean }, command: Command) => {
      const list = await clientOf(command).listWebhooks();
      const rows = list.webhooks.map((w) => [
        w.webhook_id,
        w.state,
        clip(eventsText(w), 40),
        clip(w.url, 60),
        clip(w.description ?? "", 30),
      ]);
      printResult(
        opts.json,
        list,
        rows.length === 0
          ? "no webhooks"
          : tableLines(["WEBHOOK ID", "STATE", "EVENTS", "URL", "DESCRIPTION"], rows).join("\n"),
      );
    });

  withClientFlags(webhook.command("show").description("show a webhook"))
    .requiredOption("--webhook <id>", "webhook id", webhookIdArg)
    .option("--json", "print the API's JSON")
    .action(async (opts: WebhookOpts, command: Command) => {
      const shown = await clientOf(command).showWebhook(opts.webhook);
      printResult(opts.json, shown, showText(shown));
    });

  withClientFlags(
    webhook.command("delete").description("delete a webhook; its undelivered events are dropped"),
  )
    .requiredOption("--webhook <id>", "webhook id", webhookIdArg)
    .action(async (opts: WebhookOpts, command: Command) => {
      await clientOf(command).deleteWebhook(opts.webhook);
      process.stdout.write(`deleted webhook ${opts.webhook}\n`);
    });

  withClientFlags(
    webhook
      .command("rotate-secret")
      .description("give a webhook a new secret; the old one keeps signing beside it for 24 hours"),
  )
    .requiredOption("--webhook <id>", "webhook id", webhookIdArg)
    .option("--json", "print the API's JSON (with the new secret)")
    .action(async (opts: WebhookOpts, command: Command) => {
      const rotated = await clientOf(command).rotateWebhookSecret(opts.webhook);
      printResult(
        opts.json,
        rotated,
        [
          `new secret of webhook ${rotated.webhook_id}: ${rotated.secret ?? "(none returned)"}`,
          `It is shown only this once. ${
            rotated.previous_secret_expires_at === undefined
              ? "The previous secret no longer signs."
              : `The previous secret keeps signing beside it until ${rotated.previous_secret_expires_at}, so receivers can switch over.`
          }`,
        ].join("\n"),
      );
    });

  for (const enabled of [true, false]) {
    const verb = enabled ? "enable" : "disable";
    withClientFlags(
      webhook
        .command(verb)
        .description(
          enabled
            ? "enable a webhook again (clears its failure record; waiting deliveries are sent)"
            : "disable a webhook: its events wait, undelivered, until it is enabled",
        ),
    )
      .requiredOption("--webhook <id>", "webhook id", webhookIdArg)
      .option("--json", "print the API's JSON")
      .action(async (opts: WebhookOpts, command: Command) => {
        const updated = await clientOf(command).updateWebhook(opts.webhook, { enabled });
        printResult(opts.json, updated, `webhook ${updated.webhook_id} is ${updated.state}`);
      });
  }

  withClientFlags(webhook.command("deliveries").description("a webhook's delivery log, newest first"))
    .requiredOption("--webhook <id>", "webhook id", webhookIdArg)
    .option(
      "--state <state>",
      `only deliveries in this state (${DELIVERY_STATES.join(", ")})`,
      deliveryStateArg,
    )
    .option("--limit <n>", "deliveries per page, 1 to 100", (v) => integer("--limit", v, 1, 100), 20)
    .option("--offset <n>", "deliveries to skip", (v) => integer("--offset", v, 0, 1_000_000_000), 0)
    .option("--json", "print the API's JSON")
    .action(async (opts: DeliveriesOpts, command: Command) => {
      const page = await clientOf(command).listDeliveries(opts.webhook, {
        state: opts.state,
        limit: opts.limit,
        offset: opts.offset,
      });
      printResult(opts.json, page, deliveriesText(page.deliveries, page.count, opts.offset));
    });

  withClientFlags(
    webhook
      .command("redeliver")
      .description("send events to a webhook again: the given ones, or every failed delivery"),
  )
    .requiredOption("--webhook <id>", "webhook id", webhookIdArg)
    .option(
      "--event <id...>",
      "event ids to send again (as `deliveries` lists them); none: every failed delivery",
      (raw: string, previous: string[] | undefined) => [...(previous ?? []), eventIdArg(raw)],
    )
    .option("--json", "print the API's JSON")
    .action(async (opts: WebhookOpts & { event?: string[] }, command: Command) => {
      const { queued } = await clientOf(command).redeliver(opts.webhook, opts.event);
      printResult(opts.json, { queued }, redeliverText(opts.webhook, queued, opts.event));
    });
}

interface WebhookOpts extends ClientFlags {
  webhook: string;
  json?: boolean;
}

interface CreateOpts extends ClientFlags {
  url: string;
  events?: string;
  description?: string;
  json?: boolean;
}

interface DeliveriesOpts extends WebhookOpts {
  state?: string;
  limit: number;
  offset: number;
}

function eventsText(webhook: WebhookInfo): string {
  return webhook.events.length === 0 ? "all events" : webhook.events.join(",");
}

/** A webhook's fields, one a line. */
function showText(webhook: WebhookInfo): string {
  return [
    ...fieldLines([
      ["webhook_id", webhook.webhook_id],
      ["url", webhook.url],
      ["state", webhook.state],
      ["disabled", webhook.disabled_reason],
      ["failing since", webhook.failing_since],
      ["events", eventsText(webhook)],
      ["description", webhook.description],
      ["created", webhook.create_time],
      ["updated", webhook.update_time],
    ]),
    `next: doppel webhook deliveries --webhook ${webhook.webhook_id}`,
  ].join("\n");
}

/** What a redeliver queued: of the given events, or of the failed deliveries (none given). */
function redeliverText(webhookId: string, queued: number, eventIds: readonly string[] | undefined): string {
  const deliveries = `deliver${queued === 1 ? "y" : "ies"}`;
  if (eventIds === undefined) {
    return queued === 0
      ? `nothing to send again: webhook ${webhookId} has no failed deliveries`
      : `queued ${queued} failed ${deliveries} of webhook ${webhookId} to be sent again`;
  }
  return queued === 0
    ? `nothing to send again: none of the given events has a delivery on webhook ${webhookId} (or it is being sent right now)`
    : `queued ${queued} ${deliveries} of the ${eventIds.length} given event${eventIds.length === 1 ? "" : "s"} to webhook ${webhookId} to be sent again`;
}

/** A page of the delivery log as a table, with where the next page starts. */
function deliveriesText(deliveries: readonly DeliveryInfo[], count: number, offset: number): string {
  const rows = deliveries.map((d) => [
    d.event_id,
    String(d.sequence),
    d.state,
    String(d.attempts),
    d.last_status === undefined ? "-" : String(d.last_status),
    d.last_latency_ms === undefined ? "-" : `${d.last_latency_ms} ms`,
    clip(
      d.last_error ?? (d.state === "pending" && d.next_attempt_time ? `next ${d.next_attempt_time}` : ""),
      60,
    ),
  ]);
  return pageText(
    "deliveries",
    ["EVENT ID", "SEQ", "STATE", "ATTEMPTS", "LAST STATUS", "LATENCY", "ERROR"],
    rows,
    count,
    offset,
  );
}

const webhookIdArg = hexIdArg("webhook", "`doppel webhook create` or `doppel webhook list`");

const eventIdArg = hexIdArg("event", "`doppel webhook deliveries`");

function deliveryStateArg(raw: string): string {
  const value = raw.trim();
  if (!(DELIVERY_STATES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `unknown state ${JSON.stringify(value.slice(0, 40))}; a delivery is ${DELIVERY_STATES.join(", ")}.`,
    );
  }
  return value;
}
