/**
 * The durable task queue and the worker loop, with stand-in stage handlers, on both databases: the
 * happy path through every state, permanent and transient failures, backoff, lease takeover, stale
 * tasks of paused jobs, several workers sharing one database, and a property over random outcomes.
 */
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/config.js";
import { DEFAULT_JOB_OPTIONS } from "../../src/domain/job-options.js";
import { type PipelinePolicy, STAGES, type Stage } from "../../src/domain/pipeline.js";
import type { JobState } from "../../src/domain/states.js";
import { type PipelineContext, StageFailure, type StageHandler } from "../../src/pipeline/stage.js";
import { assetIdOf } from "../../src/pipeline/stages/package.stage.js";
import { backoffMs, Worker } from "../../src/pipeline/worker.js";
import { createProject } from "../../src/services/admin.service.js";
import { findAssetOfJob } from "../../src/store/asset.repository.js";
import { findVersionedJobById, insertJob } from "../../src/store/job.repository.js";
import { moveJob } from "../../src/store/job-transition.repository.js";
import { listOperationLogs } from "../../src/store/operation-log.repository.js";
import { claimTask, finishTask, listTasksOfJob } from "../../src/store/task.repository.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";
import { newJobRow, PIPELINE_SUCCESS_LOG_TYPES } from "../support/pipeline.js";

const instant: StageHandler = async (_ctx, run) => ({
  description: `${run.task.stage} done`,
  ...(run.task.stage === "package" && {
    published: { assetId: assetIdOf(run.job.id), width: 256, height: 256, fps: 25, frameCount: 50 },
  }),
});
const allInstant = Object.fromEntries(STAGES.map((s) => [s, instant])) as Record<Stage, StageHandler>;

describe.each(ENGINES)("pipeline worker on %s", (engine) => {
  let t: TestRuntime;
  let projectId: string;

  beforeAll(async () => {
    t = await openTestRuntime(engine);
    projectId = (await createProject(t.runtime, "pipeline")).id;
  });
  afterAll(async () => t?.dispose());
  // The queue is shared by the whole database: each test starts with it empty.
  afterEach(async () => {
    await t.runtime.database.db.deleteFrom("tasks").execute();
  });

  function contextWith(policy: Partial<PipelinePolicy> = {}): PipelineContext {
    const config: Config = { ...t.config, pipeline: { ...t.config.pipeline, ...policy } };
    return { ...t.runtime, config };
  }

  /** A job submitted for verification: in AUTO_VERIFYING with its verify task queued. */
  async function submittedJob(ctx: PipelineContext = contextWith()): Promise<string> {
    const now = t.clock.now;
    const job = newJobRow(projectId, now);
    await insertJob(t.runtime.database.db, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
    const id = job.id;
    await submit(ctx, id);
    return id;
  }

  async function submit(ctx: PipelineContext, id: string): Promise<void> {
    const current = await findVersionedJobById(t.runtime.database.db, id);
    if (!current) throw new Error("no job");
    await t.runtime.database.db.transaction().execute(async (trx) => {
      await moveJob(trx, {
        jobId: id,
        projectId: current.job.projectId,
        from: current.job.state,
        version: current.version,
        path: ["AUTO_VERIFYING"],
        log: {
          operateUser: "USER",
          logType: "SUBMITVERIFYING",
          logDescription: "submitted",
          errorCode: null,
          redoReasons: [],
        },
        policy: ctx.config.pipeline,
        now: t.clock.now,
      });
    });
  }

  const stateOf = async (id: string) => (await findVersionedJobById(t.runtime.database.db, id))?.job;

  /** Runs due tasks until none is left. */
  async function drain(worker: Worker): Promise<number> {
    let runs = 0;
    while (await worker.runOnce()) runs++;
    return runs;
  }

  it("moves a submitted job through every state to JOB_SUCCESS, logging each, with its asset and id", async () => {
    const ctx = contextWith();
    const id = await submittedJob(ctx);
    expect(await drain(new Worker(ctx, { handlers: allInstant }))).toBe(5);
    const job = await stateOf(id);
    expect(job?.state).toBe("JOB_SUCCESS");
    expect(job?.assetId).toBe(assetIdOf(id));
    // The asset's record came with the move to success, named as the job and sized as the package.
    expect(await findAssetOfJob(t.runtime.database.db, id)).toMatchObject({
      id: assetIdOf(id),
      projectId,
      name: job?.name,
      assetType: "HUMAN_MODEL_2D",
      state: "ACTIVED",
      width: 256,
      frameCount: 50,
    });
    expect(job?.firstTrainingTime).toBe(t.clock.now);
    const logs = await listOperationLogs(t.runtime.database.db, id);
    expect(logs.map((l) => l.logType)).toEqual(PIPELINE_SUCCESS_LOG_TYPES);
    expect(logs.slice(1).every((l) => l.operateUser === "SYSTEM")).toBe(true);
    const tasks = await listTasksOfJob(t.runtime.database.db, id);
    // Tasks made in the same (fake) millisecond have no order among themselves.
    expect(tasks.map((task) => [task.stage, task.state]).sort()).toEqual(
      STAGES.map((s) => [s, "done"]).sort(),
    );
  });

  it("stops in WAIT_USER_CONFIRM when confirmation is required, and in MANUAL_VERIFYING for manual review", async () => {
    const confirm = contextWith({ requireConfirm: true });
    const a = await submittedJob(confirm);
    await drain(new Worker(confirm, { handlers: allInstant }));
    expect((await stateOf(a))?.state).toBe("WAIT_USER_CONFIRM");

    const manual = contextWith({ review: "manual" });
    const b = await submittedJob(manual);
    expect(await drain(new Worker(manual, { handlers: allInstant }))).toBe(1);
    expect((await stateOf(b))?.state).toBe("MANUAL_VERIFYING");
    expect((await listTasksOfJob(t.runtime.database.db, b)).map((task) => task.state)).toEqual(["done"]);
  });

  it("fails the job in the stage's failed state with the error code and reasons of a StageFailure", async () => {
    const ctx = contextWith();
    const id = await submittedJob(ctx);
    const handlers = {
      ...allInstant,
      preprocess: async () => {
        throw new StageFailure("DOPPEL.NO_FACE", "no face found", ["Film the person facing the camera"]);
      },
    };
    await drain(new Worker(ctx, { handlers }));
    const job = await stateOf(id);
    expect(job?.state).toBe("TRAINING_DATA_PREPROCESS_FAILED");
    expect(job?.message).toBe("Film the person facing the camera");
    const last = (await listOperationLogs(t.runtime.database.db, id)).at(-1);
    expect(last).toMatchObject({
      operateUser: "SYSTEM",
      logType: "TRAINING_DATA_PREPROCESS",
      logDescription: "no face found",
      errorCode: "DOPPEL.NO_FACE",
      redoReasons: ["Film the person facing the camera"],
    });
  });

  it("retries a transient failure after a capped exponential backoff, then gives up and says why", async () => {
    const ctx = contextWith();
    const id = await submittedJob(ctx);
    let calls = 0;
    const handlers = {
      ...allInstant,
      verify: async () => {
        calls++;
        throw new Error("disk hiccup");
      },
    };
    const worker = new Worker(ctx, { handlers, maxFailures: 3, backoffBaseMs: 1000, backoffCapMs: 1500 });
    expect(await drain(worker)).toBe(1);
    const [queued] = await listTasksOfJob(t.runtime.database.db, id);
    expect(queued).toMatchObject({ state: "queued", failures: 1, lastError: "disk hiccup" });
    expect(queued?.runAt).toBeGreaterThan(t.clock.now + 799);
    expect(await drain(worker)).toBe(0); // not due yet
    t.clock.set(t.clock.now + 1000);
    expect(await drain(worker)).toBe(1);
    t.clock.set(t.clock.now + 1500);
    expect(await drain(worker)).toBe(1);
    expect(calls).toBe(3);
    const job = await stateOf(id);
    expect(job?.state).toBe("AUTO_VERIFY_FAILED");
    expect(job?.message).toMatch(/kept failing \(disk hiccup\)/);
    expect((await listOperationLogs(t.runtime.database.db, id)).at(-1)?.errorCode).toBe(
      "DOPPEL.STAGE_GAVE_UP",
    );
  });

  it("takes over a task whose worker died once its lease runs out; the dead worker's late result is ignored", async () => {
    const ctx = contextWith();
    const id = await submittedJob(ctx);
    const dead = await claimTask(t.runtime.database.db, {
      stages: ["verify"],
      owner: "dead-worker",
      now: t.clock.now,
      leaseMs: 10_000,
    });
    expect(dead?.jobId).toBe(id);
    const worker = new Worker(ctx, { handlers: allInstant, stages: ["verify"], leaseMs: 10_000 });
    expect(await drain(worker)).toBe(0);
    t.clock.set(t.clock.now + 10_001);
    expect(await drain(worker)).toBe(1);
    expect((await stateOf(id))?.state).toBe("MANUAL_VERIFYING");
    expect(
      await finishTask(t.runtime.database.db, {
        taskId: dead?.id ?? "",
        owner: "dead-worker",
        now: t.clock.now,
      }),
    ).toBe(false);
    const [verify] = await listTasksOfJob(t.runtime.database.db, id);
    expect(verify).toMatchObject({ stage: "verify", state: "done", claims: 2 });
  });

  it("aborts a running stage whose lease was taken over, and applies nothing of its result", async () => {
    const ctx = contextWith();
    const id = await submittedJob(ctx);
    let aborted = false;
    let release: () => void = () => {};
    const slow: StageHandler = (c, run) =>
      new Promise((resolve) => {
        run.signal.addEventListener("abort", () => {
          aborted = true;
        });
        release = () => resolve(instant(c, run));
      });
    const worker = new Worker(ctx, { handlers: { verify: slow }, leaseMs: 150 });
    const running = worker.runOnce();
    await new Promise((r) => setTimeout(r, 30));
    // Another worker steals the task as if this one's lease had run out.
    await t.runtime.database.db
      .updateTable("tasks")
      .set({ lease_owner: "thief" })
      .where("job_id", "=", id)
      .execute();
    const deadline = Date.now() + 5000;
    while (!aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(aborted).toBe(true);
    release();
    await running;
    expect((await stateOf(id))?.state).toBe("AUTO_VERIFYING");
    const logs = await listOperationLogs(t.runtime.database.db, id);
    expect(logs.map((l) => l.logType)).toEqual(["SUBMITVERIFYING"]);
  });

  it("drops the task of a job that was paused, and queues it again when the job resumes", async () => {
    const ctx = contextWith();
    const id = await submittedJob(ctx);
    const worker = new Worker(ctx, { handlers: allInstant, stages: ["verify", "review"] });
    await drain(worker);
    expect((await stateOf(id))?.state).toBe("WAIT_TRAINING_DATA_PREPROCESS");
    const pause = async (from: JobState, to: JobState, pausedFrom: string | null) => {
      const current = await findVersionedJobById(t.runtime.database.db, id);
      await t.runtime.database.db.transaction().execute((trx) =>
        moveJob(trx, {
          jobId: id,
          projectId: current?.job.projectId ?? "",
          from,
          version: current?.version ?? 0,
          path: [to],
          log: { operateUser: "USER", logType: "CMD", logDescription: "", errorCode: null, redoReasons: [] },
          patch: { pausedFrom },
          policy: ctx.config.pipeline,
          now: t.clock.now,
        }),
      );
    };
    await pause("WAIT_TRAINING_DATA_PREPROCESS", "JOB_PENDING", "WAIT_TRAINING_DATA_PREPROCESS");
    const all = new Worker(ctx, { handlers: allInstant });
    expect(await drain(all)).toBe(1);
    expect((await stateOf(id))?.state).toBe("JOB_PENDING");
    const dropped = (await listTasksOfJob(t.runtime.database.db, id)).find(
      (task) => task.stage === "preprocess",
    );
    expect(dropped?.lastError).toMatch(/dropped: the job is in JOB_PENDING/);
    await pause("JOB_PENDING", "WAIT_TRAINING_DATA_PREPROCESS", null);
    expect(await drain(all)).toBe(3);
    expect((await stateOf(id))?.state).toBe("JOB_SUCCESS");
  });

  it("lets several workers share the queue: every job finishes and each stage runs once per job", async () => {
    const ctx = contextWith();
    const ids = await Promise.all(Array.from({ length: 12 }, () => submittedJob(ctx)));
    const runs = new Map<string, number>();
    const counting: StageHandler = async (c, run) => {
      const key = `${run.job.id}/${run.task.stage}`;
      runs.set(key, (runs.get(key) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 1));
      return instant(c, run);
    };
    const handlers = Object.fromEntries(STAGES.map((s) => [s, counting]));
    const workers = [1, 2, 3].map(() => new Worker(ctx, { handlers, concurrency: 2, pollMs: 10 }));
    for (const w of workers) w.start();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const states = await Promise.all(ids.map(async (id) => (await stateOf(id))?.state));
      if (states.every((s) => s === "JOB_SUCCESS")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(workers.map((w) => w.stop()));
    for (const id of ids) expect((await stateOf(id))?.state).toBe("JOB_SUCCESS");
    for (const id of ids) for (const stage of STAGES) expect(runs.get(`${id}/${stage}`)).toBe(1);
  });

  it("ends every job where a model of the pipeline says, whatever each stage's outcomes", async () => {
    type Outcome = "ok" | "fail" | "flaky";
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Outcome>("ok", "ok", "fail", "flaky"), { minLength: 5, maxLength: 5 }),
        fc.boolean(),
        async (outcomes, requireConfirm) => {
          const ctx = contextWith({ requireConfirm });
          const id = await submittedJob(ctx);
          const flaked = new Set<Stage>();
          const handler: StageHandler = async (c, run) => {
            const outcome = outcomes[STAGES.indexOf(run.task.stage)];
            if (outcome === "fail") throw new StageFailure("DOPPEL.TEST", `${run.task.stage} refused`);
            if (outcome === "flaky" && !flaked.has(run.task.stage)) {
              flaked.add(run.task.stage);
              throw new Error("flaky");
            }
            return instant(c, run);
          };
          const worker = new Worker(ctx, {
            handlers: Object.fromEntries(STAGES.map((s) => [s, handler])),
            backoffBaseMs: 1,
            backoffCapMs: 1,
          });
          // Each flaky stage needs one more round after its backoff.
          for (let round = 0; round < 7; round++) {
            await drain(worker);
            t.clock.set(t.clock.now + 10);
          }
          const failedAt = outcomes.indexOf("fail");
          const expected: JobState =
            failedAt === -1
              ? requireConfirm
                ? "WAIT_USER_CONFIRM"
                : "JOB_SUCCESS"
              : ((
                  [
                    "AUTO_VERIFY_FAILED",
                    "MANUAL_VERIFY_FAILED",
                    "TRAINING_DATA_PREPROCESS_FAILED",
                    "TRAIN_FAILED",
                    "INFERENCE_DATA_PREPROCESS_FAILED",
                  ] as const
                )[failedAt] ?? "JOB_SUCCESS");
          expect((await stateOf(id))?.state).toBe(expected);
          const tasks = await listTasksOfJob(t.runtime.database.db, id);
          expect(tasks.every((task) => task.state === "done")).toBe(true);
          await t.runtime.database.db.deleteFrom("tasks").execute();
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("backoffMs", () => {
  it("doubles from the base, never passes the cap, and jitters down by at most a fifth", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (n, r) => {
        const value = backoffMs(n, 1000, 60_000, () => r);
        const ceiling = Math.min(60_000, 1000 * 2 ** (n - 1));
        expect(value).toBeLessThanOrEqual(ceiling);
        expect(value).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.8));
      }),
    );
  });
});
