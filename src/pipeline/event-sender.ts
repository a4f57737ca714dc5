import { randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { hostname } from "node:os";
import type { SecretBox } from "../auth/secret-box.js";
import { backoffMs } from "../domain/backoff.js";
import { endpointWants } from "../domain/events.js";
import { findEventById } from "../store/event.repository.js";
import { findEndpointById, updateEndpoint } from "../store/webhook.repository.js";
import {
  type AttemptResult,
  claimDelivery,
  type Delivery,
  queueNewEvents,
  recordAttempt,
} from "../store/webhook-delivery.repository.js";
import { guardedLookup } from "./address-guard.js";
import type { PipelineContext, PipelineLogger } from "./stage.js";
import { type WebhookRequest, webhookRequest } from "./webhook-request.js";

/** What a receiver's answer keeps in the delivery log. */
const RESPONSE_SNIPPET_BYTES = 1024;

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

/**
 * POSTs `request`, connecting only to allowed addresses, and reports what came back. Never throws: a
 * refused address, a timeout or a reset is an attempt that failed, with the reason.
 */
export function postWebhook(
  request: WebhookRequest,
  options: { readonly timeoutMs: number; readonly allowedNetworks: readonly string[] },
): Promise<AttemptResult> {
  const started = performance.now();
  const url = new URL(request.url);
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<AttemptResult, "latencyMs">) => {
      if (settled) return;
      settled = true;
      resolve({ ...result, latencyMs: Math.round(performance.now() - started) });
    };
    const req = client.request(
      url,
      {
        method: "POST",
        headers: { ...request.headers, "content-length": String(Buffer.byteLength(request.body)) },
        agent: url.protocol === "https:" ? agents.https : agents.http,
        lookup: guardedLookup(options.allowedNetworks),
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on("data", (chunk: Buffer) => {
          if (kept < RESPONSE_SNIPPET_BYTES) {
            chunks.push(chunk.subarray(0, RESPONSE_SNIPPET_BYTES - kept));
            kept += chunk.length;
          }
        });
        res.on("end", () => {
          finish({
            ok: status >= 200 && status < 300,
            status,
            response: Buffer.concat(chunks).toString("utf8"),
            error: status >= 200 && status < 300 ? null : `the receiver answered ${status}`,
          });
        });
        res.on("error", (error) => finish({ ok: false, status, response: null, error: describe(error) }));
      },
    );
    req.on("error", (error) => finish({ ok: false, status: null, response: null, error: describe(error) }));
    req.end(request.body);
  });
}

function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (error.name === "TimeoutError" || error.name === "AbortError") return "no answer within the timeout";
  return code === undefined ? error.message : `${code}: ${error.message}`;
}

export interface EventSenderOptions {
  readonly secrets: SecretBox;
  readonly log?: PipelineLogger;
  /** How long an idle lane waits before looking for due deliveries again. */
  readonly pollMs?: number;
  /** The clock signatures are dated by (the receiver checks it against its own); the real one. */
  readonly signingClock?: () => number;
}

const SILENT: PipelineLogger = { info() {}, warn() {}, error() {} };

/**
 * Sends webhook deliveries from the outbox: queues each new event's deliveries to the endpoints that
 * want it, claims a due delivery under a lease, POSTs it signed, and
 * records the attempt — delivered, or retried later with backoff and jitter until the retry window
 * closes, after which it is failed (and can be sent again by hand). An endpoint whose every attempt
 * has failed for `disableAfterMs` is disabled; its deliveries wait for it to be enabled. Any number of
 * senders in any processes share one database: a delivery is claimed by one at a time, and one whose
 * sender died is sent again when its lease runs out (at least once, with the same event id).
 */
export class EventSender {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}:events`;
  readonly #ctx: PipelineContext;
  readonly #secrets: SecretBox;
  readonly #log: PipelineLogger;
  readonly #pollMs: number;
  readonly #signingClock: () => number;
  readonly #stopping = new AbortController();
  #lanes: Promise<void>[] = [];
  #takeOverAt = 0;

  constructor(ctx: PipelineContext, options: EventSenderOptions) {
    this.#ctx = ctx;
    this.#secrets = options.secrets;
    this.#log = options.log ?? SILENT;
    this.#pollMs = options.pollMs ?? 250;
    this.#signingClock = options.signingClock ?? Date.now;
  }

  /** Starts `concurrency` lanes, each sending one delivery at a time; the first also queues new events. */
  start(concurrency = this.#ctx.config.webhooks.concurrency): void {
    for (let i = 0; i < concurrency; i++) this.#lanes.push(this.#lane(i === 0));
  }

  /** Stops claiming; waits for the sends in flight (each bounded by the receiver timeout). */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.all(this.#lanes);
    this.#lanes = [];
  }

  /**
   * Queues new events and sends every delivery due now, one after the other, until nothing is left;
   * returns how many were attempted (tests and benchmarks drive the sender with it).
   */
  async sendDue(): Promise<number> {
    let sent = 0;
    for (;;) {
      const queued = await this.queueNewEvents();
      let round = 0;
      while (await this.sendOne(true)) round++;
      sent += round;
      if (queued === 0 && round === 0) return sent;
    }
  }

  /** Turns events no endpoint has seen yet into pending deliveries for the endpoints that want them. */
  queueNewEvents(): Promise<number> {
    return queueNewEvents(
      this.#ctx.database.db,
      (endpoint, event) => endpointWants(endpoint.kind, endpoint.eventTypes, event),
      this.#ctx.now(),
    );
  }

  /**
   * Claims and sends one due delivery; false when none was due. Expired leases (a dead sender's
   * deliveries) are looked for at most once a second by a busy sender — always when `takeOver`.
   */
  async sendOne(takeOver?: boolean): Promise<boolean> {
    const { webhooks } = this.#ctx.config;
    const lookForExpired = takeOver ?? Date.now() - this.#takeOverAt >= 1000;
    if (lookForExpired) this.#takeOverAt = Date.now();
    const delivery = await claimDelivery(this.#ctx.database.db, {
      takeOver: lookForExpired,
      owner: this.owner,
      now: this.#ctx.now(),
      // Long enough for one send (bounded by the timeout) and its record; a dead sender's claim is retaken soon after.
      leaseMs: webhooks.timeoutMs + 5000,
    });
    if (delivery === undefined) return false;
    await this.#send(delivery);
    return true;
  }

  async #lane(queues: boolean): Promise<void> {
    const signal = this.#stopping.signal;
    let queuedAt = 0;
    while (!signal.aborted) {
      let sent = false;
      try {
        // New events are queued every poll interval, not before every send: one query per interval.
        if (queues && Date.now() - queuedAt >= this.#pollMs) {
          queuedAt = Date.now();
          await this.queueNewEvents();
        }
        sent = await this.sendOne();
      } catch (error) {
        this.#log.error({ err: error }, "event delivery failed unexpectedly; retrying later");
      }
      if (!sent && !signal.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.#pollMs);
          function done() {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
          }
          signal.addEventListener("abort", done);
        });
      }
    }
  }

  async #send(delivery: Delivery): Promise<void> {
    const db = this.#ctx.database.db;
    const { webhooks } = this.#ctx.config;
    // Both at once: on PostgreSQL each is a round trip.
    const [endpoint, event] = await Promise.all([
      findEndpointById(db, delivery.endpointId),
      findEventById(db, delivery.eventId),
    ]);
    // Deleted meanwhile: its deliveries went with it (cascade); nothing to record.
    if (endpoint === undefined || event === undefined) return;
    const result = await postWebhook(
      webhookRequest(endpoint, event, this.#secrets, this.#signingClock()),
      webhooks,
    );
    const now = this.#ctx.now();
    const attempt = delivery.attempts + 1;
    const retryAt =
      result.ok || now - event.createTime >= webhooks.retryWindowMs
        ? undefined
        : now + backoffMs(attempt, webhooks.retryBaseMs, webhooks.retryCapMs);
    const recorded = await recordAttempt(db, {
      endpointId: endpoint.id,
      eventId: event.id,
      owner: this.owner,
      now,
      result,
      ...(retryAt !== undefined && { retryAt }),
    });
    if (!recorded) return;
    if (result.ok) {
      if (endpoint.failingSince !== null) await updateEndpoint(db, endpoint.id, { failingSince: null }, now);
      return;
    }
    this.#log.warn(
      { endpoint: endpoint.id, event: event.id, attempt, status: result.status, error: result.error },
      retryAt === undefined ? "event delivery failed for good" : "event delivery failed; retrying later",
    );
    const failingSince = endpoint.failingSince ?? now;
    if (now - failingSince >= webhooks.disableAfterMs) {
      await updateEndpoint(
        db,
        endpoint.id,
        {
          state: "disabled",
          disabledReason: `every delivery failed since ${new Date(failingSince).toISOString()} (last: ${result.error})`,
        },
        now,
      );
      this.#log.warn({ endpoint: endpoint.id }, "webhook disabled: it kept failing");
    } else if (endpoint.failingSince === null) {
      await updateEndpoint(db, endpoint.id, { failingSince: now }, now);
    }
  }
}
