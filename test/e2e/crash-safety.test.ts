/**
 * Crash safety of the pipeline with real processes and real clips: `doppel serve` (SQLite, workers in
 * its main process) is killed with SIGKILL in the middle of stages several times and restarted on the
 * same data dir; then an API server and two `doppel worker` processes share one PostgreSQL database
 * and one blob directory, and one worker is killed. Every job must reach its expected final state, no
 * task may be left behind, every stage's effects must show exactly once in the job's history, and each
 * successful job must have exactly one intact asset.
 *
 * The kill moments come from a seeded generator; the seed is printed, and `DOPPEL_CRASH_SEED=<seed>`
 * replays the same delays (the processes' own timing still varies from run to run).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { STAGE_DEFINITIONS, STAGES, type Stage, successPath } from "../../src/domain/pipeline.js";
import { mulberry32 } from "../../src/domain/seeded-random.js";
import { canTransition, FINAL_STATES, isJobState, type JobState } from "../../src/domain/states.js";
import { verifyPackage } from "../../src/pipeline/avatar-package.js";
import { assetIdOf, assetPrefix } from "../../src/pipeline/stages/package.stage.js";
import { downloadPrefix } from "../../src/pipeline/stages/stage-files.js";
import { createToken } from "../../src/services/admin.service.js";
import { openRuntime, type Runtime } from "../../src/services/runtime.js";
import { CLI } from "../support/cli.js";
import { type Clips, ensureClips } from "../support/clips.js";
import { TEST_POSTGRES_URL } from "../support/databases.js";
import { PIPELINE_SUCCESS_LOG_TYPES } from "../support/pipeline.js";

const SEED = process.env.DOPPEL_CRASH_SEED ? Number(process.env.DOPPEL_CRASH_SEED) : randomInt(2 ** 31);
console.log(`crash-safety: seed ${SEED} (replay the kill delays with DOPPEL_CRASH_SEED=${SEED})`);

// Seeded, so a failing run's kill delays can be replayed.
const random = mulberry32(SEED);
const between = (min: number, max: number) => Math.round(min + random() * (max - min));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Short leases, so a killed process's tasks are taken over in seconds rather than 30. */
const LEASE_SECONDS = 3;
/** How long every job gets to settle after the last kill. */
const SETTLE_MS = 150_000;

/** The pipeline's own log lines a worker prints around each stage run (src/pipeline/worker.ts). */
const STAGE_STARTED = "stage started";
const STAGE_ENDED = [
  "stage succeeded",
  "stage failed",
  "stage will retry",
  "stage gave up",
  "stage abandoned: its lease was taken over",
];

// ---------------------------------------------------------------------------------------------------
// Child processes: the built `doppel` (test/global-setup.ts), each in its own process group so SIGKILL takes
// its ffmpeg children with it, as a crash of the machine or the container would.

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything it printed, stdout and stderr interleaved. */
  output: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<Proc>();
// Should the test process itself die (a timeout, Ctrl-C), its detached children must not outlive it.
process.once("exit", () => {
  for (const proc of live) {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
});

function start(name: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    output: "",
    exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal }))),
  };
  const append = (chunk: Buffer) => {
    proc.output += chunk.toString();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** Kills the whole process group (the server or worker and its ffmpeg children) and waits for the exit. */
async function kill(proc: Proc, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // The group is gone already.
  }
  await proc.exited;
}

/** Stops a process gracefully, falling back to SIGKILL after a while. */
async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  try {
    process.kill(proc.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => void kill(proc), 20_000);
  await proc.exited;
  clearTimeout(timer);
  // Whatever the stages left running in the group (there should be nothing).
  await kill(proc);
}

async function killAll(): Promise<void> {
  await Promise.all([...live].map((proc) => kill(proc)));
}

/** Waits until `proc` has printed something matching `pattern`; fails naming the process if it exits. */
async function waitFor(proc: Proc, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(proc.output);
    if (match) return match;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited before printing ${pattern}:\n${tail(proc.output)}`);
    }
    if (Date.now() > deadline)
      throw new Error(`${proc.name} did not print ${pattern}:\n${tail(proc.output)}`);
    await sleep(50);
  }
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** The pipeline log lines a process printed (pino JSON). */
function logLines(output: string): Array<{ msg: string; job?: string; stage?: string; claim?: number }> {
  const lines = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      // A line cut by SIGKILL.
    }
  }
  return lines;
}

/** The stage runs (`stage job`) the process is in the middle of right now, judged from its log. */
function runningStages(proc: Proc): Set<string> {
  const running = new Set<string>();
  for (const line of logLines(proc.output)) {
    const run = `${line.stage} ${line.job}`;
    if (line.msg === STAGE_STARTED) running.add(run);
    else if (STAGE_ENDED.includes(line.msg)) running.delete(run);
  }
  return running;
}

interface KillPlan {
  /** Stages worth interrupting (default: any); after `fallbackMs` without one, any stage will do. */
  readonly stages?: readonly Stage[];
  readonly fallbackMs?: number;
  /** How long the stage runs before the kill: a random time in this range. */
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * Kills `proc` with SIGKILL in the middle of a stage: waits until it runs one of the planned stages,
 * lets it run a random while, and if by then the process runs no stage at all, waits for the next one
 * and kills it shortly after it starts. Returns what it did, for the log.
 */
async function killMidStage(proc: Proc, plan: KillPlan): Promise<string> {
  const began = Date.now();
  const delay = between(plan.minMs, plan.maxMs);
  const short = between(100, 800);
  const fallbackAt = began + (plan.fallbackMs ?? 60_000);
  const untilRunning = async (wanted?: readonly Stage[]) => {
    const deadline = Math.max(Date.now(), fallbackAt) + 60_000;
    for (;;) {
      const any = wanted === undefined || Date.now() > fallbackAt;
      const running = [...runningStages(proc)].filter(
        (run) => any || wanted.some((s) => run.startsWith(`${s} `)),
      );
      if (running.length > 0) return running;
      if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited:\n${tail(proc.output)}`);
      if (Date.now() > deadline)
        throw new Error(`${proc.name} ran no stage to kill in time:\n${tail(proc.output)}`);
      await sleep(25);
    }
  };
  const target = await untilRunning(plan.stages);
  await sleep(delay);
  let how = `${delay} ms into ${target.join(", ")}`;
  if (runningStages(proc).size === 0) {
    const next = await untilRunning();
    await sleep(short);
    how = `${short} ms into ${next.join(", ")} (${target.join(", ")} ended before ${delay} ms)`;
  }
  const running = [...runningStages(proc)];
  await kill(proc);
  return `${how}, ${Date.now() - began} ms after the plan began; it was running ${running.join(", ") || "nothing"}`;
}

// ---------------------------------------------------------------------------------------------------
// Jobs over HTTP (MetaStudio, X-Auth-Token), exactly as a client would submit them.

interface SubmittedJob {
  readonly id: string;
  readonly clip: keyof Clips;
  readonly expected: JobState;
}

async function submit(baseUrl: string, projectId: string, token: string, clip: string): Promise<string> {
  const jobsUrl = `${baseUrl}/v1/${projectId}/digital-human-training-manage/user/jobs`;
  const call = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${jobsUrl}${path}`, {
      method,
      headers: { "X-Auth-Token": token, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200)
      throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const created = await call("POST", "", { name: "Crash safety", video_multipart_count: 1 });
  const jobId = created.job_id as string;
  const [uploadUrl] = created.training_video_upload_url as string[];
  const put = await fetch(uploadUrl as string, { method: "PUT", body: await readFile(clip) });
  if (put.status !== 200) throw new Error(`upload of ${clip} answered ${put.status}: ${await put.text()}`);
  await call("POST", `/${jobId}/command`, { command: "CONFIRM_MULTIPART_UPLOADED" });
  await call("POST", `/${jobId}/command`, { command: "SUBMITVERIFYING" });
  return jobId;
}

/** The jobs every scenario submits: three good clips and one that fails verification. */
const PLAN: ReadonlyArray<{ clip: keyof Clips; expected: JobState }> = [
  { clip: "personA", expected: "JOB_SUCCESS" },
  { clip: "noFace", expected: "AUTO_VERIFY_FAILED" },
  { clip: "personA", expected: "JOB_SUCCESS" },
  { clip: "personA", expected: "JOB_SUCCESS" },
];

async function submitAll(
  baseUrl: string,
  projectId: string,
  token: string,
  clips: Clips,
): Promise<SubmittedJob[]> {
  const jobs: SubmittedJob[] = [];
  for (const { clip, expected } of PLAN) {
    jobs.push({ id: await submit(baseUrl, projectId, token, clips[clip]), clip, expected });
  }
  return jobs;
}

function projectIdOf(banner: string): string {
  const match = /(?:Created project "[^"]*" \(|Default project: )([0-9a-f]+)/.exec(banner);
  if (!match?.[1]) throw new Error(`no project id in the banner:\n${banner}`);
  return match[1];
}

// ---------------------------------------------------------------------------------------------------
// The database, read directly.

interface LogRow {
  seq: number;
  operate_user: string;
  log_type: string;
  error_code: string | null;
}
interface TaskRow {
  id: string;
  job_id: string;
  stage: string;
  state: string;
  claims: number;
  failures: number;
  lease_owner: string | null;
  last_error: string | null;
}

async function jobStates(runtime: Runtime, ids: readonly string[]) {
  const rows = await runtime.database.db
    .selectFrom("jobs")
    .select(["id", "state", "asset_id"])
    .where("id", "in", [...ids])
    .execute();
  return new Map(rows.map((r) => [r.id, r]));
}

async function historyOf(runtime: Runtime, jobId: string): Promise<LogRow[]> {
  const rows = await runtime.database.db
    .selectFrom("job_operation_logs")
    .select(["seq", "operate_user", "log_type", "error_code"])
    .where("job_id", "=", jobId)
    .orderBy("seq")
    .execute();
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

async function tasksOf(runtime: Runtime, ids: readonly string[]): Promise<TaskRow[]> {
  const rows = await runtime.database.db
    .selectFrom("tasks")
    .select(["id", "job_id", "stage", "state", "claims", "failures", "lease_owner", "last_error"])
    .where("job_id", "in", [...ids])
    .orderBy("create_time")
    .orderBy("id")
    .execute();
  return rows.map((r) => ({ ...r, claims: Number(r.claims), failures: Number(r.failures) }));
}

/** A job's state, history and tasks in one readable block, for failure messages and the run log. */
async function describeJob(runtime: Runtime, job: SubmittedJob): Promise<string> {
  const state = (await jobStates(runtime, [job.id])).get(job.id)?.state ?? "(gone)";
  const history = (await historyOf(runtime, job.id))
    .map((l) => `${l.log_type}${l.error_code ? `(${l.error_code})` : ""}`)
    .join(" → ");
  const tasks = (await tasksOf(runtime, [job.id]))
    .map(
      (t) =>
        `${t.stage}:${t.state} claims=${t.claims} failures=${t.failures}` +
        `${t.lease_owner ? ` owner=${t.lease_owner}` : ""}${t.last_error ? ` error=${JSON.stringify(t.last_error)}` : ""}`,
    )
    .join("; ");
  return `job ${job.id} (${job.clip}, expected ${job.expected}) is ${state}\n  history: ${history}\n  tasks: ${tasks}`;
}

const settled = (state: string) =>
  (FINAL_STATES as readonly string[]).includes(state) || state.endsWith("_FAILED");

/** Waits until every job is in a final or failed state; fails naming each job that is not. */
async function settle(runtime: Runtime, jobs: readonly SubmittedJob[], procs: () => Proc[]): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const states = await jobStates(
      runtime,
      jobs.map((j) => j.id),
    );
    const pending = jobs.filter((j) => !settled(states.get(j.id)?.state ?? "(gone)"));
    if (pending.length === 0) return;
    for (const proc of procs()) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        throw new Error(`${proc.name} exited while jobs were pending:\n${tail(proc.output)}`);
      }
    }
    if (Date.now() > deadline) {
      const described = await Promise.all(pending.map((j) => describeJob(runtime, j)));
      const outputs = procs().map((p) => `--- ${p.name} (pid ${p.pid}) ---\n${tail(p.output, 20)}`);
      throw new Error(
        `${pending.length} job(s) not final ${SETTLE_MS / 1000} s after the last kill (seed ${SEED}):\n` +
          `${described.join("\n")}\n${outputs.join("\n")}`,
      );
    }
    await sleep(500);
  }
}

/**
 * The state each history entry leaves the job in, or undefined for entries that change no state
 * (creation, uploads, assembly). Stage entries go to the stage's first success state, or to its
 * failure state when they carry an error code.
 */
function stateAfter(log: LogRow): JobState | undefined {
  if (["CREATE_JOB", "UPLOAD_FILE", "CONFIRM_MULTIPART_UPLOADED"].includes(log.log_type)) return undefined;
  if (log.log_type === "SUBMITVERIFYING") return "AUTO_VERIFYING";
  const stage = STAGES.find((s) => STAGE_DEFINITIONS[s].logType === log.log_type);
  if (stage !== undefined) {
    if (log.error_code !== null) return STAGE_DEFINITIONS[stage].failedTo;
    return successPath(stage, { review: "auto", requireConfirm: false })[0];
  }
  if (isJobState(log.log_type)) return log.log_type;
  throw new Error(`unexpected history entry ${log.log_type}`);
}

/** A successful job's whole history (parts of the training video are not history entries). */
const SUCCESS_HISTORY = ["CREATE_JOB", "CONFIRM_MULTIPART_UPLOADED", ...PIPELINE_SUCCESS_LOG_TYPES];
const RUNNING_STATES = ["TRAINING_DATA_PREPROCESSING", "TRAINING", "INFERENCE_DATA_PREPROCESSING"];

/**
 * The invariants after the crashes: expected final states, nothing queued or running, each stage's
 * effects once in each history, histories that follow the transition table, one intact asset per
 * successful job and no other. Returns a summary of the takeovers for the log.
 */
async function checkInvariants(runtime: Runtime, jobs: readonly SubmittedJob[], dataDir: string) {
  const ids = jobs.map((j) => j.id);
  const states = await jobStates(runtime, ids);
  const tasks = await tasksOf(runtime, ids);
  for (const job of jobs) {
    const where = await describeJob(runtime, job);
    const row = states.get(job.id);
    expect(row?.state, `final state of ${where}`).toBe(job.expected);
    const history = await historyOf(runtime, job.id);

    // A valid path through the transition table, from creation to the job's state.
    let state: JobState = "WAIT_FILE_UPLOAD";
    for (const log of history) {
      const next = stateAfter(log);
      if (next === undefined) continue;
      expect(canTransition(state, next), `history step ${state} → ${next} (#${log.seq}) of ${where}`).toBe(
        true,
      );
      state = next;
    }
    expect(state, `state at the end of the history of ${where}`).toBe(row?.state);

    // Each stage's success entry exactly once (none for stages the job did not pass), each running
    // state entered once: a stage run again after a takeover must not show twice.
    const count = (type: string, ok: (l: LogRow) => boolean = () => true) =>
      history.filter((l) => l.log_type === type && ok(l)).length;
    const succeeded = (l: LogRow) => l.operate_user === "SYSTEM" && l.error_code === null;
    const passed: readonly Stage[] = job.expected === "JOB_SUCCESS" ? STAGES : [];
    for (const stage of STAGES) {
      const type = STAGE_DEFINITIONS[stage].logType;
      expect(count(type, succeeded), `${type} success entries of ${where}`).toBe(
        passed.includes(stage) ? 1 : 0,
      );
    }
    for (const type of RUNNING_STATES) {
      expect(count(type), `${type} entries of ${where}`).toBe(job.expected === "JOB_SUCCESS" ? 1 : 0);
    }
    if (job.expected === "JOB_SUCCESS") {
      expect(
        history.map((l) => l.log_type),
        `history of ${where}`,
      ).toEqual(SUCCESS_HISTORY);
    } else {
      expect(
        count("AUTO_VERIFY", (l) => l.error_code !== null),
        `AUTO_VERIFY failures of ${where}`,
      ).toBe(1);
      expect(history.at(-1)?.log_type, `last entry of ${where}`).toBe("AUTO_VERIFY");
    }

    // One task per stage the job went through, all done: a crash neither loses nor duplicates one.
    const own = tasks.filter((t) => t.job_id === job.id);
    const expectedStages: Stage[] = job.expected === "JOB_SUCCESS" ? [...STAGES] : ["verify"];
    expect(
      own.map((t) => t.stage),
      `tasks of ${where}`,
    ).toEqual(expectedStages);
    for (const task of own) expect(task.state, `${task.stage} task of ${where}`).toBe("done");

    if (job.expected === "JOB_SUCCESS") {
      expect(row?.asset_id, `asset of ${where}`).toBe(assetIdOf(job.id));
    } else {
      expect(row?.asset_id ?? null, `asset of ${where}`).toBeNull();
    }
  }
  const stuck = await runtime.database.db
    .selectFrom("tasks")
    .select(["id", "job_id", "stage", "state"])
    .where("state", "in", ["queued", "running"])
    .execute();
  expect(stuck, "tasks left queued or running").toEqual([]);

  // Exactly the successful jobs' assets, each with its package intact (a package published by a run
  // that was killed half-way, and not replaced by the rerun, would fail its manifest check).
  const assetKeys = (await runtime.blobs.list("assets/")).map((b) => b.key);
  const assetIds = [...new Set(assetKeys.map((k) => k.split("/")[1]))].sort();
  const expectedAssets = jobs
    .filter((j) => j.expected === "JOB_SUCCESS")
    .map((j) => assetIdOf(j.id))
    .sort();
  expect(assetIds, "asset prefixes in the blob store").toEqual(expectedAssets);
  for (const assetId of expectedAssets) {
    const prefix = assetPrefix(assetId);
    expect(assetKeys, `asset ${assetId}`).toEqual(
      expect.arrayContaining([`${prefix}package/manifest.json`, `${prefix}preview.mp4`]),
    );
    const dir = await mkdtemp(join(tmpdir(), "doppel-crash-asset-"));
    try {
      await downloadPrefix(runtime.blobs, `${prefix}package/`, dir);
      expect(await verifyPackage(dir), `package of asset ${assetId}`).toEqual({ ok: true, problems: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // Not failures, but worth knowing: scratch dirs of killed runs, and temp files of blob writes that a
  // kill cut short (the local store renames a finished temp file into place; a cut one stays behind).
  const scratch = await readdir(join(dataDir, "work")).catch(() => [] as string[]);
  const blobFiles = await readdir(join(dataDir, "blobs"), { recursive: true }).catch(() => [] as string[]);
  const tempFiles = blobFiles.filter((f) => /(^|\/)\.doppel-tmp-/.test(f));
  return {
    takenOver: tasks.filter((t) => t.claims > 1).map((t) => `${t.stage}×${t.claims}`),
    leftovers: `${scratch.length} scratch dir(s) under work/, ${tempFiles.length} blob temp file(s)${tempFiles.length ? ` (${tempFiles.join(", ")})` : ""}`,
    tasks,
  };
}

/** Running tasks owned by a killed process (its pid is part of the lease owner), with their claim counts. */
async function orphansOf(runtime: Runtime, pid: number): Promise<TaskRow[]> {
  const tasks = await runtime.database.db
    .selectFrom("tasks")
    .select(["id", "job_id", "stage", "state", "claims", "failures", "lease_owner", "last_error"])
    .where("state", "=", "running")
    .execute();
  return tasks
    .map((r) => ({ ...r, claims: Number(r.claims), failures: Number(r.failures) }))
    .filter((t) => t.lease_owner?.split(":")[1] === String(pid));
}

// ---------------------------------------------------------------------------------------------------

describe("crash safety", () => {
  let clips: Clips;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    clips = await ensureClips();
  }, 120_000);
  afterEach(async () => {
    await killAll();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  }, 60_000);
  afterAll(killAll);

  it("SQLite: doppel serve killed with SIGKILL mid-stage three times; every job ends once, as expected", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "doppel-crash-sqlite-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = {
      DOPPEL_DATA_DIR: dataDir,
      DATABASE_URL: "",
      DOPPEL_DATABASE_URL: "",
      DOPPEL_BLOB_STORE: "local",
      DOPPEL_VERIFY_POLICY: "dev",
      // Crash safety is about the queue: the clips go without consent files (consent has its own tests).
      DOPPEL_CONSENT: "optional",
      DOPPEL_REVIEW: "auto",
      DOPPEL_REQUIRE_CONFIRM: "false",
      DOPPEL_WORKERS: "true",
      DOPPEL_WORKER_STAGES: "",
      DOPPEL_WORKER_CONCURRENCY: "2",
      DOPPEL_TASK_LEASE_SECONDS: String(LEASE_SECONDS),
      DOPPEL_LOG_LEVEL: "info",
    };
    let incarnation = 0;
    const startServer = async () => {
      const proc = start(`serve #${++incarnation}`, ["serve", "--port", "0", "--processes", "1"], env);
      const [, url] = await waitFor(proc, /listening on (http:\/\/\S+)[\s\S]*token create/);
      return { proc, url: url as string };
    };

    let server = await startServer();
    const runtime = await openRuntime(loadConfig({ dataDir }, {}));
    cleanups.push(() => runtime.close());
    const projectId = projectIdOf(server.proc.output);
    const { token } = await createToken(runtime, projectId);
    const jobs = await submitAll(server.url, projectId, token, clips);
    console.log(`crash-safety sqlite: submitted ${jobs.map((j) => `${j.id} (${j.clip})`).join(", ")}`);

    // A random moment early on (verification), then in the middle of training (the trainer writing its
    // package) and of packaging (publishing the asset), each after a random time into the stage.
    const plans: KillPlan[] = [
      { minMs: 1000, maxMs: 6000 },
      { stages: ["train"], minMs: 300, maxMs: 3000, fallbackMs: 90_000 },
      { stages: ["package"], minMs: 0, maxMs: 1500, fallbackMs: 90_000 },
    ];
    const orphans: TaskRow[] = [];
    for (const [i, plan] of plans.entries()) {
      const kill = i + 1;
      const how = await killMidStage(server.proc, plan);
      const left = await orphansOf(runtime, server.proc.pid);
      orphans.push(...left);
      const states = await jobStates(
        runtime,
        jobs.map((j) => j.id),
      );
      console.log(
        `crash-safety sqlite: kill ${kill} ${how}; running tasks orphaned: ${left.map((t) => t.stage).join(", ") || "none"}; ` +
          `jobs: ${jobs.map((j) => states.get(j.id)?.state).join(", ")}`,
      );
      server = await startServer();
    }
    const started = Date.now();
    await settle(runtime, jobs, () => [server.proc]);
    console.log(
      `crash-safety sqlite: settled ${Math.round((Date.now() - started) / 1000)} s after the last restart`,
    );
    await stop(server.proc);

    const result = await checkInvariants(runtime, jobs, dataDir);
    // Every task the kills left running was taken over (claimed again) and finished.
    for (const orphan of orphans) {
      const now = result.tasks.find((t) => t.id === orphan.id);
      expect(
        now?.claims,
        `claims of the ${orphan.stage} task of job ${orphan.job_id} after the kill`,
      ).toBeGreaterThan(orphan.claims);
    }
    expect(orphans.length, "tasks interrupted by the kills").toBeGreaterThan(0);
    console.log(
      `crash-safety sqlite: ${result.takenOver.length} task(s) taken over (${result.takenOver.join(", ")}); ` +
        `left behind: ${result.leftovers}`,
    );
  }, 240_000);

  it("PostgreSQL: two doppel worker processes, one killed twice mid-stage; the other takes its work over", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "doppel-crash-pg-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const database = `doppel_crash_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    await admin.query(`create database ${database}`);
    await admin.end();
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`drop database if exists ${database} with (force)`);
      } finally {
        await client.end();
      }
    });
    const url = new URL(TEST_POSTGRES_URL);
    url.pathname = `/${database}`;
    const databaseUrl = url.toString();
    const env = {
      DOPPEL_DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      DOPPEL_BLOB_STORE: "local",
      DOPPEL_VERIFY_POLICY: "dev",
      // Crash safety is about the queue: the clips go without consent files (consent has its own tests).
      DOPPEL_CONSENT: "optional",
      DOPPEL_REVIEW: "auto",
      DOPPEL_REQUIRE_CONFIRM: "false",
      DOPPEL_WORKER_STAGES: "",
      DOPPEL_WORKER_CONCURRENCY: "1",
      DOPPEL_TASK_LEASE_SECONDS: String(LEASE_SECONDS),
      DOPPEL_LOG_LEVEL: "info",
    };

    const api = start("serve", ["serve", "--port", "0", "--processes", "1", "--no-workers"], env);
    const [, baseUrl] = await waitFor(api, /listening on (http:\/\/\S+)[\s\S]*token create/);
    const runtime = await openRuntime(loadConfig({ dataDir, databaseUrl }, {}));
    cleanups.push(() => runtime.close());
    const projectId = projectIdOf(api.output);
    const { token } = await createToken(runtime, projectId);

    const workerA: Proc[] = [];
    const startWorker = (name: string) => start(name, ["worker"], env);
    workerA.push(startWorker("worker A #1"));
    const workerB = startWorker("worker B");
    await Promise.all([workerA[0], workerB].map((w) => waitFor(w as Proc, /pipeline worker started/)));
    const jobs = await submitAll(baseUrl as string, projectId, token, clips);
    console.log(`crash-safety postgres: submitted ${jobs.map((j) => `${j.id} (${j.clip})`).join(", ")}`);

    // The second kill aims at training or packaging, whichever A runs first.
    const laterKill: KillPlan = { stages: ["train", "package"], minMs: 200, maxMs: 2000, fallbackMs: 60_000 };
    const orphans: TaskRow[] = [];
    const killA = async (n: number) => {
      const proc = workerA.at(-1) as Proc;
      const how = await killMidStage(proc, n === 1 ? { minMs: 300, maxMs: 4000 } : laterKill);
      const left = await orphansOf(runtime, proc.pid);
      orphans.push(...left);
      const states = await jobStates(
        runtime,
        jobs.map((j) => j.id),
      );
      console.log(
        `crash-safety postgres: kill ${n} of worker A ${how}; running tasks orphaned: ${left.map((t) => t.stage).join(", ") || "none"}; ` +
          `jobs: ${jobs.map((j) => states.get(j.id)?.state).join(", ")}`,
      );
      return left;
    };
    // First kill: A is restarted at once and races B for its own orphaned task once the lease runs out.
    await killA(1);
    workerA.push(startWorker("worker A #2"));
    await waitFor(workerA[1] as Proc, /pipeline worker started/);
    // Second kill, after the new A has finished a stage of its own: A stays dead, so B must take over.
    await waitFor(workerA[1] as Proc, /"msg":"stage (succeeded|failed)"/, 120_000);
    const lastOrphans = await killA(2);

    const started = Date.now();
    await settle(runtime, jobs, () => [api, workerB]);
    console.log(
      `crash-safety postgres: settled ${Math.round((Date.now() - started) / 1000)} s after the last kill`,
    );
    await Promise.all([stop(workerB), stop(api)]);

    const result = await checkInvariants(runtime, jobs, dataDir);
    for (const orphan of orphans) {
      const now = result.tasks.find((t) => t.id === orphan.id);
      expect(
        now?.claims,
        `claims of the ${orphan.stage} task of job ${orphan.job_id} after the kill`,
      ).toBeGreaterThan(orphan.claims);
    }
    expect(orphans.length, "tasks interrupted by the kills").toBeGreaterThan(0);

    // Both workers did real work: stages they finished, from their own logs.
    const finished = (procs: Proc[]) =>
      procs
        .flatMap((p) => logLines(p.output))
        .filter((l) => l.msg === "stage succeeded" || l.msg === "stage failed");
    const byA = finished(workerA);
    const byB = finished([workerB]);
    expect(byA.length, "stages worker A finished").toBeGreaterThan(0);
    expect(byB.length, "stages worker B finished").toBeGreaterThan(0);
    // B took over the tasks A left running when it died for good.
    const takenByB = logLines(workerB.output).filter((l) => l.msg === STAGE_STARTED && (l.claim ?? 1) > 1);
    for (const orphan of lastOrphans) {
      expect(
        takenByB.some(
          (l) => l.job === orphan.job_id && l.stage === orphan.stage && (l.claim ?? 0) > orphan.claims,
        ),
        `worker B took over the ${orphan.stage} task of job ${orphan.job_id}`,
      ).toBe(true);
    }
    console.log(
      `crash-safety postgres: worker A finished ${byA.length} stage(s), worker B ${byB.length}; ` +
        `B took over ${takenByB.map((l) => `${l.stage}×${l.claim}`).join(", ") || "nothing"}; ` +
        `${result.takenOver.length} task(s) claimed more than once (${result.takenOver.join(", ")}); ` +
        `left behind: ${result.leftovers}`,
    );
  }, 240_000);
});
