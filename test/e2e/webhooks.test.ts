/**
 * Doppel's webhooks end to end: a real receiver verifies every delivery with the `standardwebhooks`
 * package's verifier (independent of the signer's code path), retries run on a simulated clock, and
 * the delivery log, secret rotation, auto-disable and redelivery are driven through the HTTP API.
 */
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { METASTUDIO_ERRORS } from "../../src/http/dialects/metastudio/errors.js";
import { EventSender } from "../../src/pipeline/event-sender.js";
import { ENGINES } from "../support/databases.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";
import { type Receiver, startReceiver } from "../support/webhook-receiver.js";

// biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
type Body = any;

const MINUTE = 60_000;
const INVALID_PARAMETER = METASTUDIO_ERRORS.INVALID_PARAMETER.code;

describe.each(ENGINES)("webhooks, on %s", (engine) => {
  let s: TestServer;
  let receiver: Receiver;
  let sender: EventSender;
  let project: TestServer["projects"][number];

  beforeAll(async () => {
    s = await startTestServer(engine, [0], {
      DOPPEL_CONSENT: "optional",
      DOPPEL_WEBHOOK_ALLOW_NETWORKS: "127.0.0.0/8",
      DOPPEL_WEBHOOK_DISABLE_AFTER_HOURS: "2",
      // The simulated clock runs past a day; the test's token must outlive it.
      DOPPEL_TOKEN_TTL_HOURS: "720",
    });
    project = s.projects[0] as TestServer["projects"][number];
    sender = new EventSender(s.t.runtime, { secrets: s.t.runtime.secrets });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await s?.close();
  });
  afterEach(async () => {
    // Each test starts with no webhooks and an empty mailbox.
    for (const hook of (await api("GET", "")).body.webhooks ?? []) await api("DELETE", `/${hook.webhook_id}`);
    receiver.received.length = 0;
    receiver.answer = () => 200;
  });

  async function api(method: string, path: string, body?: unknown) {
    const res = await s.fetch(`${s.baseUrl}/v1/${project.id}/doppel/webhooks${path}`, {
      method,
      headers: {
        "X-Auth-Token": project.token,
        ...(body !== undefined && { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as Body };
  }
  const jobs = () => tokenApi(s, project);

  /** A job created and deleted: two events, in this order. */
  async function createAndDelete(name: string): Promise<string> {
    const created = await jobs()<{ job_id: string }>("POST", "", { name });
    expect(created.status).toBe(200);
    expect((await jobs()("DELETE", `/${created.body.job_id}`)).status).toBe(200);
    return created.body.job_id;
  }

  it("signs each event per Standard Webhooks, with its id for de-duplication, in order per job", async () => {
    const made = await api("POST", "", { url: receiver.url, description: "all events" });
    expect(made.status).toBe(201);
    expect(made.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(made.body).toMatchObject({ url: receiver.url, events: [], state: "enabled" });
    // The secret is shown once.
    expect((await api("GET", `/${made.body.webhook_id}`)).body.secret).toBeUndefined();

    const jobIds = [await createAndDelete("first"), await createAndDelete("second")];
    expect(await sender.sendDue()).toBe(4);

    const verifier = new Webhook(made.body.secret);
    const bodies = receiver.received.map((r) => verifier.verify(r.body, r.headers) as Body);
    expect(bodies.map((b) => [b.type, b.data.job_id])).toEqual([
      ["job.created", jobIds[0]],
      ["job.deleted", jobIds[0]],
      ["job.created", jobIds[1]],
      ["job.deleted", jobIds[1]],
    ]);
    for (const [i, r] of receiver.received.entries()) expect(r.headers["webhook-id"]).toBe(bodies[i].id);
    // Both vocabularies: MetaStudio's state and ICE's status.
    expect(bodies[0].data).toMatchObject({
      old_state: null,
      new_state: "WAIT_FILE_UPLOAD",
      ice: { new_status: "Init" },
    });
    expect(bodies[1].data).toMatchObject({ old_state: "WAIT_FILE_UPLOAD", new_state: null });
    // Sequence numbers are the project's, one after the other.
    const seqs = bodies.map((b) => b.sequence);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(4);
    // A forged signature does not verify.
    const forged = { ...receiver.received[0]?.headers, "webhook-signature": "v1,AAAA" };
    expect(() => verifier.verify(receiver.received[0]?.body ?? "", forged)).toThrow();

    // The log shows each delivery with its status and latency.
    const log = await api("GET", `/${made.body.webhook_id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.count).toBe(4);
    for (const delivery of log.body.deliveries) {
      expect(delivery).toMatchObject({
        state: "delivered",
        attempts: 1,
        last_status: 200,
        last_response: "ok",
      });
      expect(delivery.last_latency_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it("sends only the event types a webhook asked for", async () => {
    const made = await api("POST", "", { url: receiver.url, events: ["job.deleted"] });
    expect(made.status).toBe(201);
    await createAndDelete("filtered");
    await sender.sendDue();
    expect(receiver.received.map((r) => r.json.type)).toEqual(["job.deleted"]);
  });

  it("delivers everything to a receiver that answered 500 for 10 minutes (simulated clock)", async () => {
    const made = await api("POST", "", { url: receiver.url });
    const start = s.t.clock.now;
    try {
      receiver.answer = () => (s.t.clock.now < start + 10 * MINUTE ? 500 : 200);
      const jobIds = [await createAndDelete("a"), await createAndDelete("b"), await createAndDelete("c")];
      // Forty simulated minutes in 15 s steps; the sender sends whatever has come due. (The attempt
      // before the outage ends may fall just short of it, and the next one, with jitter, comes up to
      // 640 s later: twenty minutes were not always enough.)
      for (let t = 0; t <= 40 * MINUTE; t += 15_000) {
        s.t.clock.set(start + t);
        await sender.sendDue();
      }
      const log = await api("GET", `/${made.body.webhook_id}/deliveries?limit=100`);
      expect(log.body.deliveries.map((d: Body) => d.state)).toEqual(Array(6).fill("delivered"));
      // Retried with backoff: several attempts each, not one per step.
      // (A job's later event waits behind its first, so only the first ones met the outage.)
      expect(Math.max(...log.body.deliveries.map((d: Body) => d.attempts))).toBeGreaterThan(3);
      expect(receiver.received.length).toBeLessThan(6 * 30);
      // Each job's events in order.
      for (const jobId of jobIds) {
        const types = receiver.received.filter((r) => r.json.data.job_id === jobId).map((r) => r.json.type);
        // Retries repeat an event but never send a later one before an earlier one was accepted.
        expect(types.lastIndexOf("job.created")).toBeLessThan(types.indexOf("job.deleted"));
      }
      // Retries carry the same id and the same body.
      const byId = new Map<string, string>();
      for (const r of receiver.received) {
        const id = r.headers["webhook-id"] as string;
        expect(byId.get(id) ?? r.body).toBe(r.body);
        byId.set(id, r.body);
      }
    } finally {
      s.t.clock.set(start);
    }
  });

  it("disables a webhook that kept failing, keeps its events, and delivers them once enabled again", async () => {
    const made = await api("POST", "", { url: receiver.url });
    const id = made.body.webhook_id;
    const start = s.t.clock.now;
    try {
      receiver.answer = () => 503;
      await createAndDelete("while failing");
      for (let t = 0; t <= 3 * 60 * MINUTE; t += 5 * MINUTE) {
        s.t.clock.set(start + t);
        await sender.sendDue();
      }
      const shown = (await api("GET", `/${id}`)).body;
      expect(shown.state).toBe("disabled");
      expect(shown.disabled_reason).toMatch(/503/);
      // Nothing more is sent while disabled, however long.
      const sent = receiver.received.length;
      s.t.clock.set(start + 5 * 60 * MINUTE);
      expect(await sender.sendDue()).toBe(0);
      expect(receiver.received.length).toBe(sent);

      receiver.answer = () => 200;
      const enabled = await api("PUT", `/${id}`, { enabled: true });
      expect(enabled.body).toMatchObject({ state: "enabled" });
      expect(enabled.body.disabled_reason).toBeUndefined();
      await sender.sendDue();
      const log = await api("GET", `/${id}/deliveries`);
      expect(log.body.deliveries.map((d: Body) => d.state)).toEqual(["delivered", "delivered"]);
    } finally {
      s.t.clock.set(start);
    }
  });

  it("marks a delivery failed after the retry window, and sends it again on request with the same id", async () => {
    const made = await api("POST", "", { url: receiver.url, events: ["job.created"] });
    const id = made.body.webhook_id;
    const start = s.t.clock.now;
    try {
      receiver.answer = () => 500;
      await createAndDelete("given up");
      // 26 hours of retries (the default window); the webhook is disabled after 2 h meanwhile, so enable it
      // again each simulated hour to let the retries run.
      for (let t = 0; t <= 27 * 60 * MINUTE; t += 10 * MINUTE) {
        s.t.clock.set(start + t);
        await api("PUT", `/${id}`, { enabled: true });
        await sender.sendDue();
      }
      let log = await api("GET", `/${id}/deliveries?state=failed`);
      expect(log.body, JSON.stringify(log.body)).toMatchObject({ count: 1 });
      const [failed] = log.body.deliveries;
      expect(failed).toMatchObject({
        state: "failed",
        last_status: 500,
        last_error: "the receiver answered 500",
      });
      expect(failed.attempts).toBeGreaterThanOrEqual(8);

      receiver.answer = () => 200;
      const again = await api("POST", `/${id}/redeliver`, {});
      expect(again.body).toEqual({ queued: 1 });
      await sender.sendDue();
      log = await api("GET", `/${id}/deliveries`);
      expect(log.body.deliveries[0]).toMatchObject({ state: "delivered", last_status: 200 });
      const ids = new Set(receiver.received.map((r) => r.headers["webhook-id"]));
      expect(ids.size).toBe(1);
      // Redelivering a delivered event by id sends it once more.
      expect((await api("POST", `/${id}/redeliver`, { event_ids: [failed.event_id] })).body).toEqual({
        queued: 1,
      });
      const before = receiver.received.length;
      await sender.sendDue();
      expect(receiver.received.length).toBe(before + 1);
      expect(receiver.received.at(-1)?.headers["webhook-id"]).toBe(failed.event_id);
    } finally {
      s.t.clock.set(start);
    }
  });

  it("rotates a secret: both the new and the old secret verify until the old one expires", async () => {
    const made = await api("POST", "", { url: receiver.url });
    const rotated = await api("POST", `/${made.body.webhook_id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(made.body.secret);
    expect(rotated.body.previous_secret_expires_at).toMatch(/Z$/);
    await createAndDelete("rotated");
    await sender.sendDue();
    const [first] = receiver.received;
    expect(first?.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(() =>
      new Webhook(rotated.body.secret).verify(first?.body ?? "", first?.headers ?? {}),
    ).not.toThrow();
    expect(() => new Webhook(made.body.secret).verify(first?.body ?? "", first?.headers ?? {})).not.toThrow();
  });

  it("refuses URLs that reach private, loopback or link-local addresses unless allowed", async () => {
    const strict = await startTestServer(engine, [0], {});
    try {
      const p = strict.projects[0] as TestServer["projects"][number];
      const create = (url: string) =>
        strict.fetch(`${strict.baseUrl}/v1/${p.id}/doppel/webhooks`, {
          method: "POST",
          headers: { "X-Auth-Token": p.token, "Content-Type": "application/json" },
          body: JSON.stringify({ url }),
        });
      for (const url of [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
      ]) {
        const res = await create(url);
        const body = (await res.json()) as Body;
        expect([url, res.status, body.error_code]).toEqual([url, 400, INVALID_PARAMETER]);
        expect(body.error_msg, url).toMatch(/private, loopback or link-local|does not resolve/);
      }
    } finally {
      await strict.close();
    }
  });

  it("answers any webhook input with a 2xx or a clear 4xx in MetaStudio's envelope, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            url: fc.oneof(fc.string(), fc.webUrl(), fc.constant(receiver.url)),
            events: fc.array(fc.oneof(fc.string(), fc.constantFrom("job.created", "asset.published")), {
              maxLength: 4,
            }),
            description: fc.string({ maxLength: 600 }),
            enabled: fc.boolean(),
          },
          { requiredKeys: [] },
        ),
        async (body) => {
          const created = await api("POST", "", body);
          expect(
            created.status === 201 || (created.status >= 400 && created.status < 500),
            JSON.stringify(body),
          ).toBe(true);
          if (created.status === 201) {
            const updated = await api("PUT", `/${created.body.webhook_id}`, body);
            expect(updated.status < 500).toBe(true);
            await api("DELETE", `/${created.body.webhook_id}`);
          } else {
            expect(typeof created.body.error_code).toBe("string");
            expect(typeof created.body.error_msg).toBe("string");
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("answers another project's or an unknown webhook with WEBHOOK_NOT_FOUND", async () => {
    const made = await api("POST", "", { url: receiver.url });
    const other = await startTestServer(engine, [0], {});
    try {
      expect((await api("GET", "/0123456789abcdef0123456789abcdef")).status).toBe(404);
      // Ids that cannot be ids (a NUL byte broke PostgreSQL's text) are simply not found.
      expect((await api("GET", "/%00")).status).toBe(404);
      expect(
        (await api("POST", `/${made.body.webhook_id}/redeliver`, { event_ids: ["\u0000"] })).status,
      ).toBe(400);
      expect((await api("POST", "/nope/rotate-secret")).body.error_code).toBe("MSS.10002008");
      const p = other.projects[0] as TestServer["projects"][number];
      // The same id under another project's URL and token is not found there.
      const res = await other.fetch(`${other.baseUrl}/v1/${p.id}/doppel/webhooks/${made.body.webhook_id}`, {
        headers: { "X-Auth-Token": p.token },
      });
      expect(res.status).toBe(404);
    } finally {
      await other.close();
    }
  });
});
