/**
 * Webhook deliveries survive SIGKILL: `doppel serve` (its built-in event sender) is killed several
 * times while a receiver in this process answers slowly (deliveries in flight) and while it is down
 * (connection refused, or 503), and restarted on the same data dir, while jobs are created and deleted
 * through the MetaStudio API. Afterwards every event of the events API must have reached the receiver
 * (at least once, correctly signed), each delivery in flight at a kill must have been sent again, a
 * duplicate must carry the same id and body, and per job an event is never sent before the previous
 * one was accepted.
 *
 * The kill moments come from a seeded generator; the seed is printed, and
 * `DOPPEL_EVENTS_CRASH_SEED=<seed>` replays the same plan (the processes' own timing still varies).
 */
import type { ChildProcess } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/domain/seeded-random.js";
import { doppel, serve } from "../support/cli.js";
import { createPostgresDatabase, ENGINES } from "../support/databases.js";

const SEED = process.env.DOPPEL_EVENTS_CRASH_SEED
  ? Number(process.env.DOPPEL_EVENTS_CRASH_SEED)
  : randomInt(2 ** 31);
console.log(`events-crash: seed ${SEED} (replay with DOPPEL_EVENTS_CRASH_SEED=${SEED})`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long the receiver takes to answer when slow: well under the sender's 1 s timeout. */
const SLOW_MS = 300;
/** How long every event gets to arrive after the last restart. */
const DRAIN_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// The receiver: verifies every request's Standard Webhooks signature and records it in arrival order.

type Mode = "up" | "slow" | "refused" | "503";

interface Arrival {
  /** Position in arrival order. */
  readonly index: number;
  readonly id: string;
  readonly body: string;
  readonly sequence: number;
  readonly type: string;
  readonly jobId: string;
  /** The mode the request found the receiver in. */
  readonly mode: Mode;
  /** A 200 was written to a live connection (for a request in flight at a kill it may have gone nowhere). */
  acked: boolean;
}

class Receiver {
  readonly arrivals: Arrival[] = [];
  readonly signatureFailures: string[] = [];
  /** Requests read and not answered yet (slow mode). */
  readonly inFlight = new Set<Arrival>();
  #mode: Mode = "up";
  #webhook: Webhook | undefined;
  #port = 0;
  readonly #server = http.createServer((req, res) => this.#handle(req, res));

  get port(): number {
    return this.#port;
  }

  set secret(secret: string) {
    this.#webhook = new Webhook(secret);
  }

  async start(): Promise<void> {
    await this.#listen(0);
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** Switches how requests are answered; `refused` closes the listening socket and every connection. */
  async setMode(mode: Mode): Promise<void> {
    if (mode === this.#mode) return;
    const was = this.#mode;
    this.#mode = mode;
    if (mode === "refused") {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await closed;
    } else if (was === "refused") {
      await this.#listen(this.#port);
    }
  }

  async close(): Promise<void> {
    if (this.#mode === "refused") return;
    this.#mode = "refused";
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = {
        "webhook-id": String(req.headers["webhook-id"] ?? ""),
        "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
        "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
      };
      try {
        if (this.#webhook === undefined) throw new Error("no secret yet");
        this.#webhook.verify(body, headers);
      } catch (error) {
        this.signatureFailures.push(`${headers["webhook-id"]}: ${(error as Error).message}`);
      }
      let parsed: { sequence?: number; type?: string; data?: { job_id?: string } } = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        // Recorded with an empty body; the checks below fail on it.
      }
      const arrival: Arrival = {
        index: this.arrivals.length,
        id: headers["webhook-id"],
        body,
        sequence: Number(parsed.sequence),
        type: String(parsed.type),
        jobId: String(parsed.data?.job_id),
        mode: this.#mode,
        acked: false,
      };
      this.arrivals.push(arrival);
      if (arrival.mode === "503") {
        res.writeHead(503, { "content-type": "text/plain" }).end("down");
        return;
      }
      const answer = () => {
        this.inFlight.delete(arrival);
        if (res.destroyed || req.socket.destroyed) return;
        arrival.acked = true;
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      };
      if (arrival.mode === "slow") {
        this.inFlight.add(arrival);
        setTimeout(answer, SLOW_MS);
      } else {
        answer();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// `doppel serve` processes.

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything it printed. */
  readonly output: () => string;
}

const live = new Set<ChildProcess>();
// Should the test process itself die (a timeout, Ctrl-C), its servers must not outlive it.
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

async function startServer(env: NodeJS.ProcessEnv): Promise<Server> {
  const { url, output, child } = await serve(["--processes", "1"], env);
  live.add(child);
  child.once("exit", () => live.delete(child));
  let log = output;
  const append = (chunk: Buffer) => {
    log += chunk.toString();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  return { child, url, output: () => log };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function killServer(server: Server, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  const done = exited(server.child);
  server.child.kill(signal);
  await done;
}

// ---------------------------------------------------------------------------------------------------
// The API, as a client calls it (MetaStudio, X-Auth-Token).

interface ApiEvent {
  readonly id: string;
  readonly sequence: number;
  readonly type: string;
  readonly data: { readonly job_id: string };
}

async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      "X-Auth-Token": token,
      ...(body !== undefined && { "Content-Type": "application/json" }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Every event of the project, oldest first, from the events API. */
async function allEvents(base: string, token: string, projectId: string): Promise<ApiEvent[]> {
  const events: ApiEvent[] = [];
  let after = 0;
  for (;;) {
    const { status, json } = await call(
      base,
      token,
      "GET",
      `/v1/${projectId}/doppel/events?after=${after}&limit=1000`,
    );
    if (status !== 200) throw new Error(`events answered ${status}: ${JSON.stringify(json)}`);
    const page = json.events as ApiEvent[];
    events.push(...page);
    after = json.last_sequence as number;
    if (page.length < 1000) return events;
  }
}

/** How many of the webhook's deliveries are in `state`, from its delivery log. */
async function deliveriesIn(
  base: string,
  token: string,
  projectId: string,
  webhookId: string,
  state: "pending" | "delivering" | "delivered" | "failed",
): Promise<number> {
  const { status, json } = await call(
    base,
    token,
    "GET",
    `/v1/${projectId}/doppel/webhooks/${webhookId}/deliveries?state=${state}&limit=1`,
  );
  if (status !== 200) throw new Error(`deliveries answered ${status}: ${JSON.stringify(json)}`);
  return json.count as number;
}

/**
 * Creates and deletes jobs against whichever server is current until stopped: each create is a
 * job.created event, each delete a job.deleted one. Requests cut by a kill are expected; any other
 * answer than success is recorded.
 */
function startLoad(
  current: () => string | undefined,
  token: string,
  projectId: string,
  random: () => number,
) {
  const jobsPath = `/v1/${projectId}/digital-human-training-manage/user/jobs`;
  const jobs: string[] = [];
  const unexpected: string[] = [];
  let requests = 0;
  let cut = 0;
  let stopped = false;
  const loop = (async () => {
    let n = 0;
    while (!stopped) {
      const base = current();
      if (base !== undefined) {
        const remove = jobs.length > 0 && random() < 0.45;
        try {
          requests++;
          if (remove) {
            const [jobId] = jobs.splice(Math.floor(random() * jobs.length), 1);
            const { status, json } = await call(base, token, "DELETE", `${jobsPath}/${jobId}`);
            if (status !== 200) unexpected.push(`DELETE ${jobId}: ${status} ${JSON.stringify(json)}`);
          } else {
            const { status, json } = await call(base, token, "POST", jobsPath, { name: `events ${++n}` });
            if (status === 200 && typeof json.job_id === "string") jobs.push(json.job_id);
            else unexpected.push(`POST: ${status} ${JSON.stringify(json)}`);
          }
        } catch {
          // The server was killed under the request: it may or may not have happened.
          cut++;
        }
      }
      await sleep(40 + Math.floor(random() * 100));
    }
  })();
  return {
    unexpected,
    counts: () => ({ requests, cut }),
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------------

/** One kill: while deliveries are in flight to a slow receiver, or while the receiver is down. */
type KillKind = "slow" | "refused" | "503";
const KILLS: readonly KillKind[] = ["slow", "refused", "slow", "503", "slow", "refused"];

describe.each(ENGINES)("webhook deliveries across SIGKILL (%s)", (engine) => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    await Promise.all(
      [...live].map(async (child) => {
        const done = exited(child);
        child.kill("SIGKILL");
        await done;
      }),
    );
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  }, 60_000);
  afterAll(() => {
    for (const child of live) child.kill("SIGKILL");
  });

  it("doppel serve killed six times mid-delivery and while the receiver is down: every event arrives, signed, in order per job", async () => {
    const began = Date.now();
    const random = mulberry32(SEED + (engine === "postgres" ? 1 : 0));
    const between = (min: number, max: number) => Math.round(min + random() * (max - min));
    const tag = `events-crash ${engine}`;

    const dataDir = await mkdtemp(join(tmpdir(), `doppel-events-crash-${engine}-`));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let databaseUrl = "";
    if (engine === "postgres") {
      const database = await createPostgresDatabase("doppel_events_crash");
      cleanups.push(database.drop);
      databaseUrl = database.url;
    }
    const env = {
      DOPPEL_DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      DOPPEL_BLOB_STORE: "local",
      DOPPEL_CONSENT: "optional",
      DOPPEL_WORKERS: "true",
      DOPPEL_LOG_LEVEL: "info",
      DOPPEL_WEBHOOK_ALLOW_NETWORKS: "127.0.0.0/8",
      DOPPEL_WEBHOOK_RETRY_BASE_MS: "100",
      DOPPEL_WEBHOOK_RETRY_CAP_SECONDS: "1",
      DOPPEL_WEBHOOK_TIMEOUT_SECONDS: "1",
    };

    // A project and a token from the CLI, on the database the servers will use.
    const { project_id: projectId } = JSON.parse(
      await doppel(["project", "create", "--name", "events-crash", "--json"], env),
    ) as { project_id: string };
    const { token } = JSON.parse(
      await doppel(["token", "create", "--project", projectId, "--json"], env),
    ) as { token: string };

    const receiver = new Receiver();
    await receiver.start();
    cleanups.push(() => receiver.close());

    let server: Server | undefined = await startServer(env);
    const created = await call(server.url, token, "POST", `/v1/${projectId}/doppel/webhooks`, {
      url: `http://127.0.0.1:${receiver.port}/hook`,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    receiver.secret = created.json.secret as string;
    const webhookId = created.json.webhook_id as string;

    const load = startLoad(() => server?.url, token, projectId, random);
    await sleep(between(500, 1500));

    // The kills. A delivery in flight at a kill (read by the receiver, not answered) must come again.
    const mustComeAgain: Array<{ arrival: Arrival; kill: number }> = [];
    const log: string[] = [];
    for (const [i, kind] of KILLS.entries()) {
      const kill = i + 1;
      const current = server as Server;
      let how: string;
      if (kind === "slow") {
        await receiver.setMode("slow");
        const delay = between(200, 1500);
        await sleep(delay);
        // A random moment, but one with a delivery in flight.
        const deadline = Date.now() + 10_000;
        while (receiver.inFlight.size === 0 && Date.now() < deadline) await sleep(2);
        const inFlight = [...receiver.inFlight];
        current.child.kill("SIGKILL");
        for (const arrival of inFlight) mustComeAgain.push({ arrival, kill });
        how = `${delay} ms into a slow receiver, ${inFlight.length} delivery(ies) in flight (seq ${inFlight.map((a) => a.sequence).join(", ")})`;
      } else {
        await receiver.setMode(kind);
        const delay = between(300, 2000);
        await sleep(delay);
        current.child.kill("SIGKILL");
        how = `${delay} ms into a receiver that is down (${kind})`;
      }
      await exited(current.child);
      server = undefined;
      const arrived = receiver.arrivals.length;
      server = await startServer(env);
      if (kind !== "slow") {
        // Still down for a while after the restart: the new sender's attempts fail and back off.
        await sleep(between(300, 1500));
      }
      const next: Mode = random() < 0.5 ? "up" : "slow";
      await receiver.setMode(next);
      log.push(
        `kill ${kill} ${how}; restarted (receiver ${kind !== "slow" ? "still down, then " : ""}${next}); ${arrived} arrival(s) so far`,
      );
      console.log(`${tag}: ${log.at(-1)}`);
      await sleep(between(300, 1200));
    }
    await load.stop();

    // Drain: the receiver up, every event of the events API must arrive (acknowledged), and every
    // delivery in flight at a kill must arrive again after that kill.
    await receiver.setMode("up");
    const last = server as Server;
    const drainStarted = Date.now();
    let events: ApiEvent[] = [];
    let missing: ApiEvent[] = [];
    let notAgain: typeof mustComeAgain = [];
    let delivered = 0;
    for (;;) {
      events = await allEvents(last.url, token, projectId);
      const acked = new Set(receiver.arrivals.filter((a) => a.acked).map((a) => a.id));
      missing = events.filter((e) => !acked.has(e.id));
      notAgain = mustComeAgain.filter(
        ({ arrival }) => !receiver.arrivals.some((a) => a.id === arrival.id && a.index > arrival.index),
      );
      delivered = await deliveriesIn(last.url, token, projectId, webhookId, "delivered");
      if (
        (missing.length === 0 && notAgain.length === 0 && delivered === events.length) ||
        Date.now() - drainStarted > DRAIN_MS
      )
        break;
      await sleep(250);
    }
    const drainMs = Date.now() - drainStarted;
    const left = {
      pending: await deliveriesIn(last.url, token, projectId, webhookId, "pending"),
      delivering: await deliveriesIn(last.url, token, projectId, webhookId, "delivering"),
      failed: await deliveriesIn(last.url, token, projectId, webhookId, "failed"),
    };
    const serverLog = last.output();
    await killServer(last, "SIGTERM");

    const byId = new Map<string, Arrival[]>();
    for (const arrival of receiver.arrivals) {
      byId.set(arrival.id, [...(byId.get(arrival.id) ?? []), arrival]);
    }
    const duplicates = [...byId.values()].filter((list) => list.length > 1);
    const { requests, cut } = load.counts();
    console.log(
      `${tag}: ${events.length} events (${requests} API requests, ${cut} cut by kills), ${receiver.arrivals.length} arrivals ` +
        `(${receiver.arrivals.filter((a) => a.mode === "503").length} answered 503), ${duplicates.length} event(s) received more than once, ` +
        `${mustComeAgain.length} in flight at kills; drained ${drainMs} ms after the loop; whole test ${Math.round((Date.now() - began) / 1000)} s`,
    );
    const unexpectedFailures = (serverLog.match(/event delivery failed unexpectedly/g) ?? []).length;
    if (unexpectedFailures > 0)
      console.log(`${tag}: the last server logged ${unexpectedFailures} unexpected delivery failure(s)`);

    // The load ran, and the kills landed where they were meant to.
    expect(load.unexpected, "API answers other than success").toEqual([]);
    expect(events.length, "events generated").toBeGreaterThan(20);
    expect(mustComeAgain.length, "deliveries in flight at the kills").toBeGreaterThanOrEqual(
      KILLS.filter((k) => k === "slow").length,
    );
    expect(receiver.signatureFailures, "requests whose signature did not verify").toEqual([]);

    // No event lost: every event of the events API was received and acknowledged.
    expect(
      missing.map((e) => `${e.sequence} ${e.type} ${e.id}`),
      `events never delivered (after ${drainMs} ms of draining; deliveries left: ${JSON.stringify(left)})`,
    ).toEqual([]);
    // A delivery the sender did not see answered (it died) is sent again.
    expect(
      notAgain.map(
        ({ arrival, kill }) => `seq ${arrival.sequence} (${arrival.id}) in flight at kill ${kill}`,
      ),
      "deliveries in flight at a kill that never came again",
    ).toEqual([]);
    // Nothing but the project's events arrived, and each as the events API shows it.
    const eventById = new Map(events.map((e) => [e.id, e]));
    expect(
      [...byId.keys()].filter((id) => !eventById.has(id)),
      "received ids that are no event",
    ).toEqual([]);
    for (const [id, list] of byId) {
      const bodies = new Set(list.map((a) => a.body));
      expect(bodies.size, `distinct bodies received for event ${id}`).toBe(1);
      expect(JSON.parse(list[0]?.body ?? "null"), `body of event ${id}`).toEqual(eventById.get(id));
    }
    // The log agrees: every delivery delivered, nothing left pending, in flight or failed.
    expect({ delivered, ...left }, "the webhook's delivery log").toEqual({
      delivered: events.length,
      pending: 0,
      delivering: 0,
      failed: 0,
    });

    // Per job, in order: an event's first arrival comes after the previous event of its job was
    // accepted (so first arrivals are in increasing sequence order too).
    const eventsByJob = new Map<string, ApiEvent[]>();
    for (const event of events) {
      eventsByJob.set(event.data.job_id, [...(eventsByJob.get(event.data.job_id) ?? []), event]);
    }
    const outOfOrder: string[] = [];
    for (const [jobId, jobEvents] of eventsByJob) {
      for (let i = 1; i < jobEvents.length; i++) {
        const before = jobEvents[i - 1] as ApiEvent;
        const after = jobEvents[i] as ApiEvent;
        const list = (id: string) => byId.get(id) ?? [];
        const firstAck = list(before.id).find((a) => a.acked)?.index ?? Number.POSITIVE_INFINITY;
        const firstOfAfter = list(after.id)[0]?.index ?? Number.POSITIVE_INFINITY;
        const firstOfBefore = list(before.id)[0]?.index ?? Number.POSITIVE_INFINITY;
        if (!(firstOfBefore < firstOfAfter && firstAck < firstOfAfter)) {
          outOfOrder.push(
            `job ${jobId}: ${after.type} #${after.sequence} first arrived at ${firstOfAfter}, ` +
              `${before.type} #${before.sequence} first at ${firstOfBefore}, first accepted at ${firstAck}`,
          );
        }
      }
    }
    expect(outOfOrder, "events of a job sent before the previous one was accepted").toEqual([]);
    expect(
      [...eventsByJob.values()].filter((list) => list.length > 1).length,
      "jobs with more than one event",
    ).toBeGreaterThan(0);
  }, 150_000);
});
