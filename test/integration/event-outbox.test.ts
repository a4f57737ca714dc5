/**
 * The outbox on both databases: events commit with their change or not at all, numbers per project
 * are gapless and commit in order under concurrent writers, deliveries are queued to the endpoints
 * that want them, and several senders sharing the outbox send each delivery once, in order per job.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointWants, type NewEvent } from "../../src/domain/events.js";
import { newJobId } from "../../src/domain/job.js";
import { DEFAULT_JOB_OPTIONS } from "../../src/domain/job-options.js";
import type { JobState } from "../../src/domain/states.js";
import { EventSender } from "../../src/pipeline/event-sender.js";
import { createProject } from "../../src/services/admin.service.js";
import { appendEvents, lastEventSeq, listEventsAfter } from "../../src/store/event.repository.js";
import { insertJob } from "../../src/store/job.repository.js";
import { moveJob } from "../../src/store/job-transition.repository.js";
import { appendOperationLog, listOperationLogs } from "../../src/store/operation-log.repository.js";
import { insertEndpoint, type WebhookEndpoint } from "../../src/store/webhook.repository.js";
import { listDeliveries, queueNewEvents } from "../../src/store/webhook-delivery.repository.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";
import { newJobRow } from "../support/pipeline.js";

describe.each(ENGINES)("the event outbox on %s", (engine) => {
  let t: TestRuntime;
  let projectId: string;

  beforeAll(async () => {
    t = await openTestRuntime(engine, { DOPPEL_WEBHOOK_ALLOW_NETWORKS: "127.0.0.0/8" });
    projectId = (await createProject(t.runtime, "events")).id;
  });
  afterAll(() => t?.dispose());

  const event = (jobId: string, type: NewEvent["type"] = "job.created"): NewEvent => ({
    type,
    jobId,
    data: { job_id: jobId },
  });

  function endpoint(project: string, url: string, eventTypes: string[] = []): WebhookEndpoint {
    const now = t.clock.now;
    return {
      id: newJobId(),
      projectId: project,
      kind: "standard",
      url,
      description: null,
      eventTypes,
      secretSealed: t.runtime.secrets.seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
      previousSecretSealed: null,
      previousSecretUntil: null,
      authSwitch: false,
      state: "enabled",
      disabledReason: null,
      failingSince: null,
      queuedThroughSeq: 0,
      createTime: now,
      updateTime: now,
    };
  }

  it("writes nothing when the change's transaction rolls back", async () => {
    const project = (await createProject(t.runtime, "rollback")).id;
    const db = t.runtime.database.db;
    await insertEndpoint(db, endpoint(project, "http://127.0.0.1:9/hook"));
    await expect(
      db.transaction().execute(async (trx) => {
        await appendEvents(trx, project, [event(newJobId())], t.clock.now);
        throw new Error("the change failed after its event was written");
      }),
    ).rejects.toThrow("the change failed");
    expect(await listEventsAfter(db, { projectId: project, afterSeq: 0, limit: 10 })).toEqual([]);
    expect(await lastEventSeq(db, project)).toBe(0);
    // The next event takes number 1: a rolled-back change leaves no gap.
    const [stored] = await db
      .transaction()
      .execute((trx) => appendEvents(trx, project, [event(newJobId())], 1));
    expect(stored?.seq).toBe(1);
  });

  it("numbers a project's events without gaps, in commit order, under concurrent writers", async () => {
    const project = (await createProject(t.runtime, "concurrent")).id;
    const db = t.runtime.database.db;
    const writers = Array.from({ length: 20 }, (_, i) =>
      db
        .transaction()
        .execute((trx) =>
          appendEvents(
            trx,
            project,
            [event(newJobId()), event(newJobId(), "job.deleted")].slice(0, 1 + (i % 2)),
            i,
          ),
        ),
    );
    const written = (await Promise.all(writers)).flat();
    const listed = await listEventsAfter(db, { projectId: project, afterSeq: 0, limit: 1000 });
    expect(listed.map((e) => e.seq)).toEqual(Array.from({ length: written.length }, (_, i) => i + 1));
    // Another project's numbers are its own.
    const [other] = await db
      .transaction()
      .execute((trx) => appendEvents(trx, projectId, [event(newJobId())], 0));
    expect(other?.seq).toBe((await lastEventSeq(db, projectId)) as number);
  });

  it("queues each event to the endpoints that listen to its type, and only theirs, once", async () => {
    const project = (await createProject(t.runtime, "fan-out")).id;
    const db = t.runtime.database.db;
    const all = endpoint(project, "http://127.0.0.1:9/all");
    const deletions = endpoint(project, "http://127.0.0.1:9/deleted", ["job.deleted"]);
    // Another project's endpoint, from that project's latest event on.
    const elsewhere = {
      ...endpoint(projectId, "http://127.0.0.1:9/elsewhere"),
      queuedThroughSeq: await lastEventSeq(db, projectId),
    };
    for (const e of [all, deletions, elsewhere]) await insertEndpoint(db, e);
    const job = newJobId();
    await db
      .transaction()
      .execute((trx) =>
        appendEvents(
          trx,
          project,
          [event(job), event(job, "job.state_changed"), event(job, "job.deleted")],
          5,
        ),
      );
    const wants = (e: WebhookEndpoint, ev: { type: string; iceOutcome: string | null }) =>
      endpointWants(e.kind, e.eventTypes, ev);
    const count = async (e: WebhookEndpoint) =>
      (await listDeliveries(db, { endpointId: e.id, offset: 0, limit: 10 })).count;
    // Nothing is queued by the change itself: the senders queue afterwards.
    expect([await count(all), await count(deletions)]).toEqual([0, 0]);
    // Two senders queueing at once queue each delivery once.
    await Promise.all([queueNewEvents(db, wants, 6), queueNewEvents(db, wants, 6)]);
    expect([await count(all), await count(deletions), await count(elsewhere)]).toEqual([3, 1, 0]);
    expect(await queueNewEvents(db, wants, 7)).toBe(0);
    // A later event is queued after the cursor, in its turn.
    await db.transaction().execute((trx) => appendEvents(trx, project, [event(newJobId())], 8));
    await queueNewEvents(db, wants, 9);
    expect([await count(all), await count(deletions)]).toEqual([4, 1]);
  });

  it("writes a move's history entries and one event per state entered, numbered after what was there", async () => {
    const project = (await createProject(t.runtime, "moves")).id;
    const db = t.runtime.database.db;
    const job = newJobRow(project, 1);
    await insertJob(db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
    await appendOperationLog(db, job.id, {
      operateTime: 1,
      operateUser: "USER",
      logType: "CREATE_JOB",
      logDescription: "created",
      errorCode: null,
      redoReasons: [],
    });
    const move = (from: JobState, version: number, path: JobState[], reasons: string[] = []) =>
      db.transaction().execute((trx) =>
        moveJob(trx, {
          jobId: job.id,
          projectId: project,
          from,
          version,
          path,
          log: {
            operateUser: "ADMIN",
            logType: "REVIEW",
            logDescription: "looked",
            errorCode: "E1",
            redoReasons: reasons,
          },
          policy: t.runtime.config.pipeline,
          now: 2,
        }),
      );
    expect(await move("WAIT_FILE_UPLOAD", 1, ["AUTO_VERIFYING", "MANUAL_VERIFYING"])).toBe(true);
    expect(await move("MANUAL_VERIFYING", 2, ["MANUAL_VERIFY_FAILED"], ["The face is covered"])).toBe(true);
    // A stale move changes nothing: no history, no event.
    expect(await move("MANUAL_VERIFYING", 2, ["MANUAL_VERIFY_SUCCESS"])).toBe(false);
    const history = await listOperationLogs(db, job.id);
    expect(history.map((h) => [h.logType, h.logDescription, h.errorCode, h.redoReasons])).toEqual([
      ["CREATE_JOB", "created", null, []],
      ["REVIEW", "looked", "E1", []],
      ["MANUAL_VERIFYING", "AUTO_VERIFYING → MANUAL_VERIFYING", null, []],
      ["REVIEW", "looked", "E1", ["The face is covered"]],
    ]);
    const events = await listEventsAfter(db, { projectId: project, afterSeq: 0, limit: 10 });
    expect(events.map((e) => [e.seq, e.data.old_state, e.data.new_state, e.data.reasons])).toEqual([
      [1, "WAIT_FILE_UPLOAD", "AUTO_VERIFYING", []],
      [2, "AUTO_VERIFYING", "MANUAL_VERIFYING", []],
      [3, "MANUAL_VERIFYING", "MANUAL_VERIFY_FAILED", ["The face is covered"]],
    ]);
    expect(events[2]?.data.ice).toEqual({ old_status: "Queuing", new_status: "Fail" });
  });

  it("lets several senders share the outbox: each delivery sent once, each job's events in order", async () => {
    const project = (await createProject(t.runtime, "senders")).id;
    const db = t.runtime.database.db;
    const got: Array<{ id: string; job: string; seq: number }> = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const json = JSON.parse(body);
        got.push({ id: json.id, job: json.data.job_id, seq: json.sequence });
        // A little latency, so that senders overlap.
        setTimeout(() => res.end("ok"), 2);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      await insertEndpoint(db, endpoint(project, url));
      const jobs = Array.from({ length: 12 }, () => newJobId());
      for (let round = 0; round < 5; round++) {
        await db.transaction().execute((trx) =>
          appendEvents(
            trx,
            project,
            jobs.map((job) => event(job, round === 0 ? "job.created" : "job.state_changed")),
            t.clock.now,
          ),
        );
      }
      const senders = Array.from(
        { length: 4 },
        () => new EventSender(t.runtime, { secrets: t.runtime.secrets }),
      );
      await Promise.all(senders.flatMap((sender) => [sender.sendDue(), sender.sendDue()]));
      expect(got).toHaveLength(60);
      expect(new Set(got.map((g) => g.id)).size).toBe(60);
      for (const job of jobs) {
        const seqs = got.filter((g) => g.job === job).map((g) => g.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    } finally {
      server.close();
    }
  });
});
