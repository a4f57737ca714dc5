/**
 * `npm run bench:pipeline`: the pipeline's own overhead, and the cost of the real verification stage.
 *
 * (a) Queue: N jobs (default 2,000) inserted in WAIT_FILE_UPLOAD and submitted (moveJob → AUTO_VERIFYING,
 *     which enqueues verify), then run to JOB_SUCCESS by in-process Workers whose five stage handlers
 *     return at once — so what is timed is the queue and the state machine: claims, lease renewals, the
 *     move into each running state, the result's transaction, the next task's enqueue, the work dir.
 *     "4 workers" are four Worker instances in this process, each with one lane (concurrency 1) and its
 *     own owner id, sharing the runtime's database handle — the shape of four `doppel worker` processes
 *     minus the process boundary. On SQLite they share the one connection (better-sqlite3 is
 *     synchronous; Kysely serialises its transactions), so they overlap only between statements.
 *     Floor: the same job-row and history writes done directly, in one loop, on the same engine in the
 *     same run — for each job, each move the worker makes (a versioned `updateJobState` to the move's last
 *     state plus one operation-log insert per state entered, one transaction per move), with versions
 *     tracked in memory: no queue, no reads. Printed: pipeline time / floor time (how many times slower
 *     the pipeline is than writing the states by hand; its throughput is the inverse).
 *
 * (b) Verify: a 60 s 1920×1080 H.264 + AAC talking-head clip (made once with makeLongClip, cached under
 *     the OS temp dir), run through the real verify stage handler with the `default` policy except
 *     minDurationSeconds (lowered to 30 so the clip passes and every check runs to the end). Timed after
 *     the face models are loaded and warmed on one frame (both reported separately, not counted), as a
 *     fraction of the clip's duration against the ≤ 0.2× real-time target. The breakdown (download,
 *     probe, frame sampling, face detection) is measured by running each part on its own as well, since
 *     in the stage sampling and detection overlap.
 *
 * Options: --engine sqlite|postgres|both (default both), --jobs N (default 2000), --workers 1,4,
 *          --poll-ms N (idle lane poll, default 5), --verify-rounds N (default 2; best counts),
 *          --skip-queue, --skip-verify.
 */
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { loadConfig } from "../src/config/config.js";
import type { Job } from "../src/domain/job.js";
import { newJobId } from "../src/domain/job.js";
import { DEFAULT_JOB_OPTIONS } from "../src/domain/job-options.js";
import type { OperationLog } from "../src/domain/operation-log.js";
import { type PipelinePolicy, STAGE_DEFINITIONS, STAGES, successPath } from "../src/domain/pipeline.js";
import type { JobState } from "../src/domain/states.js";
import { BUILT_IN_POLICIES, type VerifyPolicy } from "../src/domain/verify-policy.js";
import { type FaceAnalyzer, openFaceAnalyzer } from "../src/media/faces.js";
import { extractFrame, type RgbFrame, sampleFrames } from "../src/media/frames.js";
import { probeMedia } from "../src/media/probe.js";
import {
  type PipelineContext,
  type PipelineLogger,
  StageFailure,
  type StageHandler,
  type StageRun,
} from "../src/pipeline/stage.js";
import { downloadBlob } from "../src/pipeline/stages/stage-files.js";
import { verifyStage } from "../src/pipeline/stages/verify.stage.js";
import { Worker } from "../src/pipeline/worker.js";
import { createProject } from "../src/services/admin.service.js";
import { openRuntime, type Runtime } from "../src/services/runtime.js";
import {
  findVersionedJobById,
  insertJob,
  type JobStatePatch,
  updateJobState,
} from "../src/store/job.repository.js";
import { upsertJobFile } from "../src/store/job-file.repository.js";
import { moveJob } from "../src/store/job-transition.repository.js";
import { appendOperationLog } from "../src/store/operation-log.repository.js";
import type { TaskRecord } from "../src/store/task.repository.js";
import { makeLongClip } from "../test/support/clips.js";
import { newJobRow } from "../test/support/pipeline.js";

const { values: args } = parseArgs({
  options: {
    engine: { type: "string", default: "both" },
    jobs: { type: "string", default: "2000" },
    workers: { type: "string", default: "1,4" },
    "poll-ms": { type: "string", default: "5" },
    "verify-rounds": { type: "string", default: "2" },
    "skip-queue": { type: "boolean", default: false },
    "skip-verify": { type: "boolean", default: false },
  },
});
const JOBS = Number(args.jobs);
const WORKER_COUNTS = [...new Set(args.workers.split(",").map(Number))];
const POLL_MS = Number(args["poll-ms"]);
const VERIFY_ROUNDS = Number(args["verify-rounds"]);
/** A run that has not finished by then is stuck (a lost task, a failing handler), not slow. */
const RUN_TIMEOUT_MS = 10 * 60_000;
const PG_ADMIN_URL = process.env.DOPPEL_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const PG_DATABASE = "doppel_bench_pipeline";
const PG_BENCH_URL = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${PG_DATABASE}`);
const CLIP_SECONDS = 60;
const CLIP_WIDTH = 1920;
const CLIP_HEIGHT = 1080;
const REAL_TIME_TARGET = 0.2;
/** Bump when the clip's recipe (test/support/clips.ts makeLongClip) changes. */
const CLIP_FILE = join(
  tmpdir(),
  "doppel-bench-clips",
  `talking-${CLIP_SECONDS}s-${CLIP_WIDTH}x${CLIP_HEIGHT}-v1.mp4`,
);

type Engine = "sqlite" | "postgres";

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const millis = (ms: number) => `${ms.toFixed(3)} ms`;
const SILENT: PipelineLogger = { info() {}, warn() {}, error() {} };

// ---------------------------------------------------------------------------------------------------
// (a) the queue

/** One move the worker makes: its states (the job ends in the last) and the fields it sets with them. */
interface Move {
  readonly from: JobState;
  readonly path: readonly JobState[];
  readonly log: (now: number) => Omit<OperationLog, "operateTime">;
  /** The bench's jobs have never trained, so `train` sets the first training time as well. */
  readonly patch: (now: number) => Omit<JobStatePatch, "state" | "updateTime">;
}

/**
 * The moves of one job from AUTO_VERIFYING to the end, derived from the pipeline's definitions the way
 * worker.ts makes them: per stage, the move into its running state when that differs from the state it
 * was queued in (with the training times for `train`), then the stage's success path (message cleared,
 * the asset id for `package`).
 */
function movesOf(policy: PipelinePolicy): Move[] {
  const moves: Move[] = [];
  let state: JobState = STAGE_DEFINITIONS.verify.queuedIn;
  for (const stage of STAGES) {
    const d = STAGE_DEFINITIONS[stage];
    if (d.runningIn !== d.queuedIn) {
      moves.push({
        from: state,
        path: [d.runningIn],
        log: () => systemLog(d.runningIn, `${d.queuedIn} → ${d.runningIn}`),
        patch: (now) => (stage === "train" ? { lastTrainingTime: now, firstTrainingTime: now } : {}),
      });
      state = d.runningIn;
    }
    const path = successPath(stage, policy);
    moves.push({
      from: state,
      path,
      log: () => systemLog(d.logType, `${stage} done`),
      patch: () => ({ message: null, ...(stage === "package" && { assetId: "asset" }) }),
    });
    state = path.at(-1) as JobState;
  }
  return moves;
}

function systemLog(logType: string, description: string): Omit<OperationLog, "operateTime"> {
  return { operateUser: "SYSTEM", logType, logDescription: description, errorCode: null, redoReasons: [] };
}

/** An open runtime on a fresh database (SQLite: a temp data dir; PostgreSQL: a fresh schema). */
async function freshRuntime(
  engine: Engine,
  label: string,
): Promise<{ runtime: Runtime; dispose(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), `doppel-pipeline-bench-${label}-`));
  const schema = `bench_${label}`;
  const config = loadConfig(
    { dataDir, ...(engine === "postgres" && { databaseUrl: PG_BENCH_URL }) },
    // Explicit, so a DATABASE_URL or DOPPEL_* in the caller's environment cannot change what is measured.
    // The verify round has no grant file: consent optional, so it is measured without a consent problem.
    { DOPPEL_CONSENT: "optional" },
  );
  const runtime = await openRuntime(config, engine === "postgres" ? { pgSchema: schema } : {});
  return {
    runtime,
    async dispose() {
      if (engine === "postgres")
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(runtime.database.db);
      await runtime.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Inserts `n` jobs in WAIT_FILE_UPLOAD and submits them (→ AUTO_VERIFYING, verify enqueued), 200 per transaction. */
async function submittedJobs(runtime: Runtime, n: number): Promise<string[]> {
  const projectId = (await createProject(runtime, "pipeline bench")).id;
  const db = runtime.database.db;
  const ids: string[] = [];
  for (let start = 0; start < n; start += 200) {
    await db.transaction().execute(async (trx) => {
      for (let i = start; i < Math.min(n, start + 200); i++) {
        const now = Date.now();
        const job = newJobRow(projectId, now, { name: `bench ${i}` });
        const id = job.id;
        ids.push(id);
        await insertJob(trx, job, { options: DEFAULT_JOB_OPTIONS, clientToken: null });
        const moved = await moveJob(trx, {
          jobId: id,
          projectId,
          from: "WAIT_FILE_UPLOAD",
          version: 1,
          path: ["AUTO_VERIFYING"],
          log: {
            operateUser: "USER",
            logType: "SUBMITVERIFYING",
            logDescription: "submitted",
            errorCode: null,
            redoReasons: [],
          },
          policy: runtime.config.pipeline,
          now,
        });
        if (!moved) throw new Error(`job ${id} could not be submitted`);
      }
    });
  }
  return ids;
}

async function countWhere(
  runtime: Runtime,
  table: "jobs" | "job_operation_logs" | "tasks",
  where?: [string, string],
) {
  let query = runtime.database.db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as("n"));
  if (where) query = query.where(sql.ref(where[0]), "=", where[1]);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

interface QueueResult {
  readonly ms: number;
  /** State transitions applied per job, counted from the operation logs (minus the submit entry). */
  readonly transitionsPerJob: number;
  readonly claims: number;
  readonly tasks: number;
}

/** Submits JOBS jobs, starts `workers` Workers with instant handlers and times until all are JOB_SUCCESS. */
async function pipelineRun(engine: Engine, workers: number): Promise<QueueResult> {
  const { runtime, dispose } = await freshRuntime(engine, `w${workers}`);
  try {
    await submittedJobs(runtime, JOBS);
    const ctx: PipelineContext = {
      database: runtime.database,
      blobs: runtime.blobs,
      config: runtime.config,
      now: Date.now,
    };
    let packaged = 0;
    const problems: string[] = [];
    const log: PipelineLogger = {
      info() {},
      warn: (fields, message) => problems.push(`${message}: ${(fields as { err?: Error }).err?.message}`),
      error: (fields, message) => problems.push(`${message}: ${(fields as { err?: Error }).err?.message}`),
    };
    const instant: StageHandler = async (_ctx, run) => {
      if (run.task.stage !== "package") return { description: `${run.task.stage} done` };
      packaged++;
      return { description: "package done", assetId: `asset-${run.job.id.slice(0, 8)}` };
    };
    const handlers = Object.fromEntries(STAGES.map((s) => [s, instant]));
    const pool = Array.from(
      { length: workers },
      () => new Worker(ctx, { handlers, concurrency: 1, pollMs: POLL_MS, log }),
    );
    let shownAt = 0;
    const started = performance.now();
    for (const worker of pool) worker.start();
    // In-memory until the last package handler has run (a database poll would compete with the workers),
    // then the database, briefly, until the last result has committed.
    while (packaged < JOBS) {
      if (problems.length > 0) throw new Error(`a worker reported: ${problems[0]}`);
      if (performance.now() - started > RUN_TIMEOUT_MS)
        throw new Error(`stuck at ${packaged}/${JOBS} packaged`);
      if (process.stdout.isTTY && Math.floor(performance.now() / 1000) !== shownAt) {
        shownAt = Math.floor(performance.now() / 1000);
        process.stdout.write(
          `\r  ${workers} worker${workers > 1 ? "s" : " "}: ${packaged}/${JOBS} jobs packaged`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (process.stdout.isTTY) process.stdout.write("\r");
    while ((await countWhere(runtime, "jobs", ["state", "JOB_SUCCESS"])) < JOBS) {
      if (performance.now() - started > RUN_TIMEOUT_MS) throw new Error("stuck before JOB_SUCCESS");
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const ms = performance.now() - started;
    await Promise.all(pool.map((worker) => worker.stop()));
    if (problems.length > 0) throw new Error(`a worker reported: ${problems[0]}`);

    const logs = await countWhere(runtime, "job_operation_logs");
    const transitionsPerJob = (logs - JOBS) / JOBS;
    const tasks = await countWhere(runtime, "tasks", ["state", "done"]);
    const claims = Number(
      (
        await runtime.database.db
          .selectFrom("tasks")
          .select((eb) => eb.fn.sum<number | string>("claims").as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (tasks !== JOBS * STAGES.length)
      throw new Error(`${tasks} tasks done, expected ${JOBS * STAGES.length}`);
    return { ms, transitionsPerJob, claims, tasks };
  } finally {
    await dispose();
  }
}

/** The floor: the worker's job-row and history writes for JOBS submitted jobs, in one loop, no queue. */
async function floorRun(engine: Engine): Promise<{ ms: number; transitionsPerJob: number; moves: number }> {
  const { runtime, dispose } = await freshRuntime(engine, "floor");
  try {
    const ids = await submittedJobs(runtime, JOBS);
    // Same starting state as the pipeline's jobs, without the queued verify tasks the floor never reads.
    await runtime.database.db.deleteFrom("tasks").execute();
    const moves = movesOf(runtime.config.pipeline);
    const db = runtime.database.db;
    const started = performance.now();
    for (const id of ids) {
      // Submitted jobs are at version 2 (inserted at 1, submitted once); each move adds one.
      let version = 2;
      for (const move of moves) {
        const now = Date.now();
        await db.transaction().execute(async (trx) => {
          const applied = await updateJobState(trx, id, version, {
            ...move.patch(now),
            state: move.path.at(-1) as JobState,
            updateTime: now,
          });
          if (!applied) throw new Error(`floor: job ${id} is not at version ${version}`);
          let from = move.from;
          for (const [i, to] of move.path.entries()) {
            await appendOperationLog(
              trx,
              id,
              i === 0
                ? { ...move.log(now), operateTime: now }
                : { ...systemLog(to, `${from} → ${to}`), operateTime: now },
            );
            from = to;
          }
        });
        version++;
      }
    }
    const ms = performance.now() - started;
    const done = await countWhere(runtime, "jobs", ["state", "JOB_SUCCESS"]);
    if (done !== JOBS) throw new Error(`floor: ${done} of ${JOBS} jobs reached JOB_SUCCESS`);
    const logs = await countWhere(runtime, "job_operation_logs");
    return { ms, transitionsPerJob: (logs - JOBS) / JOBS, moves: moves.length };
  } finally {
    await dispose();
  }
}

async function withPgDatabase<T>(run: () => Promise<T>): Promise<T> {
  const admin = async (statement: string) => {
    const client = new pg.Client(PG_ADMIN_URL);
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`drop database if exists ${PG_DATABASE} with (force)`);
  await admin(`create database ${PG_DATABASE}`);
  try {
    return await run();
  } finally {
    await admin(`drop database if exists ${PG_DATABASE} with (force)`);
  }
}

interface QueueRow {
  engine: Engine;
  workers: number;
  run: QueueResult;
  floor: { ms: number; transitionsPerJob: number; moves: number };
}

async function queueBench(engine: Engine): Promise<QueueRow[]> {
  console.log(
    `\n== (a) queue on ${engine}: ${JOBS.toLocaleString()} jobs, instant handlers, pollMs ${POLL_MS} ==`,
  );
  const rows: QueueRow[] = [];
  const go = async () => {
    // The floor before and after the pipeline runs; the faster counts (a busy box only slows it).
    const floors = [await floorRun(engine)];
    console.log(`  floor (direct writes, one loop): ${seconds(floors[0]?.ms ?? 0)}`);
    const runs: Array<[number, QueueResult]> = [];
    for (const workers of WORKER_COUNTS) {
      const run = await pipelineRun(engine, workers);
      runs.push([workers, run]);
      console.log(
        `  ${workers} worker${workers > 1 ? "s" : " "}: ${seconds(run.ms)}, ${(JOBS / (run.ms / 1000)).toFixed(0)} jobs/s, ` +
          `${run.tasks} tasks, ${run.claims} claims, ${run.transitionsPerJob} transitions/job`,
      );
    }
    floors.push(await floorRun(engine));
    console.log(`  floor again: ${seconds(floors[1]?.ms ?? 0)}`);
    const floor = floors.reduce((a, b) => (b.ms < a.ms ? b : a));
    for (const [workers, run] of runs) {
      if (run.transitionsPerJob !== floor.transitionsPerJob) {
        throw new Error(
          `the pipeline made ${run.transitionsPerJob} transitions per job but the floor ${floor.transitionsPerJob}`,
        );
      }
      rows.push({ engine, workers, run, floor });
    }
  };
  if (engine === "postgres") await withPgDatabase(go);
  else await go();
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// (b) verify

async function cachedClip(): Promise<string> {
  try {
    if (statSync(CLIP_FILE).size > 0) {
      console.log(`  reusing ${CLIP_FILE}`);
      return CLIP_FILE;
    }
  } catch {
    // not made yet
  }
  mkdirSync(join(CLIP_FILE, ".."), { recursive: true });
  const started = performance.now();
  // An .mp4 name (ffmpeg picks the container by extension), renamed into place once complete.
  const partial = join(CLIP_FILE, "..", `.partial-${process.pid}.mp4`);
  try {
    await makeLongClip(partial, CLIP_SECONDS, { width: CLIP_WIDTH, height: CLIP_HEIGHT });
    await rename(partial, CLIP_FILE);
  } finally {
    await rm(partial, { force: true });
  }
  console.log(`  made ${CLIP_FILE} in ${seconds(performance.now() - started)}`);
  return CLIP_FILE;
}

interface VerifyResult {
  readonly clipSeconds: number;
  readonly clipBytes: number;
  readonly loadMs: number;
  readonly warmMs: number;
  readonly rounds: Array<{ ms: number; detectMs: number; detections: number }>;
  readonly parts: { download: number; probe: number; sample: number; detect: number; frames: number };
  readonly description: string;
  readonly policy: VerifyPolicy;
}

async function verifyBench(): Promise<VerifyResult> {
  console.log(`\n== (b) verify: ${CLIP_SECONDS} s ${CLIP_WIDTH}×${CLIP_HEIGHT} clip ==`);
  const clip = await cachedClip();
  const policy: VerifyPolicy = {
    ...(BUILT_IN_POLICIES.default as VerifyPolicy),
    name: "default with minDurationSeconds 30",
    minDurationSeconds: 30,
  };

  let started = performance.now();
  const analyzer = await openFaceAnalyzer();
  const loadMs = performance.now() - started;
  started = performance.now();
  const warm = await extractFrame(clip, 1);
  await analyzer.detect(warm);
  const warmMs = performance.now() - started;
  console.log(
    `  face models: load ${seconds(loadMs)}, warm-up on one frame ${seconds(warmMs)} (not counted)`,
  );

  // Wall time the stage spends waiting for detections.
  let detectMs = 0;
  let detections = 0;
  const timed: FaceAnalyzer = {
    async detect(image) {
      const t = performance.now();
      try {
        return await analyzer.detect(image);
      } finally {
        detectMs += performance.now() - t;
        detections++;
      }
    },
    close: () => analyzer.close(),
  };
  const handler = verifyStage(policy, async () => timed);

  const { runtime, dispose } = await freshRuntime("sqlite", "verify");
  const scratch = await mkdtemp(join(tmpdir(), "doppel-verify-bench-"));
  try {
    const projectId = (await createProject(runtime, "verify bench")).id;
    const now = Date.now();
    const jobId = newJobId(now);
    await insertJob(
      runtime.database.db,
      newJobRow(projectId, now, { id: jobId, name: "verify bench", state: "AUTO_VERIFYING" }),
      { options: DEFAULT_JOB_OPTIONS, clientToken: null },
    );
    const blobKey = `jobs/${jobId}/training-video/video`;
    const stored = await runtime.blobs.put(blobKey, createReadStream(clip), { contentType: "video/mp4" });
    await upsertJobFile(runtime.database.db, jobId, {
      slot: "training-video",
      blobKey,
      size: stored.size,
      sha256: stored.sha256,
      etag: stored.etag,
      contentType: "video/mp4",
      uploadTime: now,
    });
    const job = (await findVersionedJobById(runtime.database.db, jobId))?.job as Job;
    const ctx: PipelineContext = {
      database: runtime.database,
      blobs: runtime.blobs,
      config: runtime.config,
      now: Date.now,
    };
    const task: TaskRecord = {
      id: newJobId(now),
      jobId,
      stage: "verify",
      jobState: "AUTO_VERIFYING",
      state: "running",
      runAt: now,
      claims: 1,
      failures: 0,
      leaseOwner: "bench",
      leaseUntil: now + 60_000,
      progress: 0,
      lastError: null,
    };

    const rounds: VerifyResult["rounds"] = [];
    let description = "";
    for (let round = 1; round <= VERIFY_ROUNDS; round++) {
      const workDir = await mkdtemp(join(scratch, "work-"));
      const run: StageRun = {
        job,
        task,
        signal: new AbortController().signal,
        workDir,
        progress() {},
        log: SILENT,
      };
      detectMs = 0;
      detections = 0;
      started = performance.now();
      // A policy failure still ran every check (the stage reports all problems at once): timed all the same.
      description = await handler(ctx, run).then(
        (result) => result.description,
        (error: unknown) => {
          if (error instanceof StageFailure) return `REJECTED: ${error.message}`;
          throw error;
        },
      );
      const ms = performance.now() - started;
      rounds.push({ ms, detectMs, detections });
      console.log(
        `  round ${round}: verify stage ${seconds(ms)} = ${(ms / 1000 / CLIP_SECONDS).toFixed(3)}× real time ` +
          `(${detections} detections awaited for ${seconds(detectMs)})`,
      );
      await rm(workDir, { recursive: true, force: true });
    }

    // The parts on their own, in the stage's order and with its settings.
    const file = join(scratch, "training-video");
    started = performance.now();
    await downloadBlob(runtime.blobs, blobKey, file);
    const download = performance.now() - started;
    started = performance.now();
    const probe = await probeMedia(file);
    const probeMs = performance.now() - started;
    started = performance.now();
    const frames: RgbFrame[] = [];
    for await (const frame of sampleFrames(file, {
      count: policy.faceSamples,
      durationSeconds: probe.durationSeconds,
    })) {
      frames.push(frame);
    }
    const sample = performance.now() - started;
    started = performance.now();
    for (const frame of frames) await analyzer.detect(frame);
    const detect = performance.now() - started;
    return {
      clipSeconds: probe.durationSeconds,
      clipBytes: probe.sizeBytes,
      loadMs,
      warmMs,
      rounds,
      parts: { download, probe: probeMs, sample, detect, frames: frames.length },
      description,
      policy,
    };
  } finally {
    await analyzer.close();
    await rm(scratch, { recursive: true, force: true });
    await dispose();
  }
}

// ---------------------------------------------------------------------------------------------------

function printQueueTable(rows: QueueRow[]): void {
  const first = rows[0];
  if (!first) return;
  const perJob = first.run.transitionsPerJob;
  const transitions = JOBS * perJob;
  console.log(
    `\n(a) queue: ${JOBS.toLocaleString()} jobs × ${perJob} state transitions (${first.floor.moves} moves, ` +
      `${STAGES.length} tasks) = ${transitions.toLocaleString()} transitions per run; per-transition cost = ` +
      "run time / transitions.\n    Floor: the same writes in one loop, no queue. Ratio = pipeline time / floor time " +
      "(1.00× = as fast as the bare writes; higher = slower).",
  );
  const header = [
    "engine".padEnd(9),
    "workers".padEnd(22),
    "time".padStart(9),
    "jobs/s".padStart(8),
    "per transition".padStart(15),
    "| floor".padEnd(10),
    "jobs/s".padStart(8),
    "per transition".padStart(15),
    "| pipeline/floor time",
  ].join(" ");
  console.log(`    ${header}`);
  for (const r of rows) {
    const ratio = r.run.ms / r.floor.ms;
    console.log(
      `    ${[
        r.engine.padEnd(9),
        (r.workers === 1 ? "1 Worker × 1 lane" : `${r.workers} Workers × 1 lane`).padEnd(22),
        seconds(r.run.ms).padStart(9),
        (JOBS / (r.run.ms / 1000)).toFixed(0).padStart(8),
        millis(r.run.ms / transitions).padStart(15),
        `| ${seconds(r.floor.ms)}`.padEnd(10),
        (JOBS / (r.floor.ms / 1000)).toFixed(0).padStart(8),
        millis(r.floor.ms / transitions).padStart(15),
        `| ${ratio.toFixed(2)}× (throughput ${(1 / ratio).toFixed(2)}× the floor's)`,
      ].join(" ")}`,
    );
  }
}

function printVerifyTable(v: VerifyResult): void {
  const best = v.rounds.reduce((a, b) => (b.ms < a.ms ? b : a));
  const fraction = best.ms / 1000 / v.clipSeconds;
  const p = v.parts;
  console.log(
    `\n(b) verify: ${v.clipSeconds.toFixed(1)} s ${CLIP_WIDTH}×${CLIP_HEIGHT} H.264 clip (${(v.clipBytes / 1e6).toFixed(1)} MB), ` +
      `policy "${v.policy.name}", ${v.policy.faceSamples} face samples`,
  );
  console.log(`    result: ${v.description}`);
  console.log(
    `    verify stage (best of ${v.rounds.length}): ${seconds(best.ms)} = ${fraction.toFixed(3)}× the clip's duration ` +
      `${fraction <= REAL_TIME_TARGET ? `(meets ≤ ${REAL_TIME_TARGET}×)` : `(ABOVE the ${REAL_TIME_TARGET}× target)`}`,
  );
  console.log(
    `    not counted: face model load ${seconds(v.loadMs)}, warm-up detection ${seconds(v.warmMs)} (once per process)`,
  );
  console.log("    parts, each run on its own:");
  const part = (label: string, value: string) => console.log(`      ${label.padEnd(36)} ${value}`);
  part("download (blob store → work dir)", seconds(p.download).padStart(8));
  part("probe (ffprobe)", seconds(p.probe).padStart(8));
  part(
    `frame sampling (${p.frames} frames, ffmpeg)`,
    `${seconds(p.sample).padStart(8)}  (${(p.sample / p.frames).toFixed(0)} ms/frame)`,
  );
  part(
    `face detection (${p.frames} frames)`,
    `${seconds(p.detect).padStart(8)}  (${(p.detect / p.frames).toFixed(0)} ms/frame)`,
  );
  part("consent check", "none (no grant file)");
  console.log(
    `      sum ${seconds(p.download + p.probe + p.sample + p.detect)}; in the stage sampling runs ahead of detection, ` +
      `which it awaited for ${seconds(best.detectMs)} of the ${seconds(best.ms)}`,
  );
}

const engines: Engine[] = args.engine === "both" ? ["sqlite", "postgres"] : [args.engine as Engine];
console.log(
  `pipeline benchmark: ${args["skip-queue"] ? "" : `queue on ${engines.join(" + ")} with ${WORKER_COUNTS.join(", ")} worker(s)`}` +
    `${args["skip-queue"] || args["skip-verify"] ? "" : "; "}${args["skip-verify"] ? "" : "verify stage"}`,
);
const queueRows: QueueRow[] = [];
if (!args["skip-queue"]) for (const engine of engines) queueRows.push(...(await queueBench(engine)));
const verify = args["skip-verify"] ? undefined : await verifyBench();
console.log("\n== summary ==");
printQueueTable(queueRows);
if (verify) printVerifyTable(verify);
