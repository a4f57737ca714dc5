import { createHash } from "node:crypto";
import { Webhook } from "standardwebhooks";
import type { SecretBox } from "../auth/secret-box.js";
import {
  eventJson,
  ICE_TRAINING_EVENT,
  iceTrainingOutcome,
  iceUserIdOf,
  type StoredEvent,
} from "../domain/events.js";
import { formatUtcSeconds } from "../domain/time.js";
import type { WebhookEndpoint } from "../store/webhook.repository.js";

/** One signed POST to send: the same event always gives the same body and id. */
export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * ICE's callback body for a finished training: ICE's event envelope (`EventType`, `UserId`,
 * `EventTime`, `MessageBody`; help.aliyun.com/zh/ims/user-guide/event-list-2) around the job's outcome.
 */
export function iceBody(event: StoredEvent): string {
  const status = iceTrainingOutcome(event);
  if (status === undefined) throw new Error(`event ${event.id} is not one ICE announces`);
  return JSON.stringify({
    EventType: ICE_TRAINING_EVENT,
    UserId: iceUserIdOf(event.projectId),
    EventTime: formatUtcSeconds(event.createTime),
    MessageBody: {
      JobId: event.data.job_id,
      Status: status,
      ...(event.data.asset_id && { AvatarId: event.data.asset_id }),
      ...(status === "Fail" && {
        Code: event.data.error_code ?? undefined,
        Message: [event.data.description, ...(event.data.reasons ?? [])].filter(Boolean).join("; "),
      }),
    },
  });
}

/**
 * ICE's callback signature (help.aliyun.com/document_detail/610690.html): the MD5 hex of
 * `callbackURL|timestamp|authKey`, the timestamp in UNIX seconds. The body is not signed.
 */
export function iceSignature(url: string, timestampSeconds: number, authKey: string): string {
  return createHash("md5").update(`${url}|${timestampSeconds}|${authKey}`).digest("hex");
}

/**
 * The request that delivers `event` to `endpoint`, signed at `now`. Doppel webhooks are signed per
 * Standard Webhooks (by its own package); while a rotated-out secret has not expired the signature
 * header carries a signature by each, so a receiver holding either verifies. ICE callbacks are signed
 * when AuthSwitch is on. Both carry the event id, the same on every retry, for de-duplication.
 */
export function webhookRequest(
  endpoint: WebhookEndpoint,
  event: StoredEvent,
  secrets: SecretBox,
  now: number,
): WebhookRequest {
  const seconds = Math.floor(now / 1000);
  const common = { "content-type": "application/json", "user-agent": "Doppel-Webhooks/1" };
  if (endpoint.kind === "ice") {
    const authKey = endpoint.secretSealed === null ? undefined : secrets.open(endpoint.secretSealed);
    return {
      url: endpoint.url,
      body: iceBody(event),
      headers: {
        ...common,
        "x-doppel-event-id": event.id,
        ...(endpoint.authSwitch &&
          authKey !== undefined && {
            "x-ice-timestamp": String(seconds),
            "x-ice-signature": iceSignature(endpoint.url, seconds, authKey),
          }),
      },
    };
  }
  const body = JSON.stringify(eventJson(event));
  const secretsNow = [endpoint.secretSealed];
  if (endpoint.previousSecretUntil !== null && endpoint.previousSecretUntil > now) {
    secretsNow.push(endpoint.previousSecretSealed);
  }
  const signature = secretsNow
    .filter((sealed): sealed is string => sealed !== null)
    .map((sealed) => new Webhook(secrets.open(sealed)).sign(event.id, new Date(seconds * 1000), body))
    .join(" ");
  return {
    url: endpoint.url,
    body,
    headers: {
      ...common,
      "webhook-id": event.id,
      "webhook-timestamp": String(seconds),
      "webhook-signature": signature,
    },
  };
}
