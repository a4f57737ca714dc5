/**
 * The worker protocol as a trainer on another machine would speak it: claim, inputs by signed URL,
 * heartbeats with progress, outputs by signed URL, complete or fail; leases that run out (through
 * `app.inject()`); and, on real clips over a real port, a remote trainer (the reference trainer driven
 * over HTTP) taking a job to JOB_SUCCESS while the server's own workers do everything else.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningPipeline, startPipeline } from "../../src/pipeline/run-pipeline.js";
import { PREPROCESSED_FILES, preprocessedKey } from "../../src/pipeline/stages/preprocess.stage.js";
import { trainedPackagePrefix } from "../../src/pipeline/stages/train.stage.js";
import { referenceTrainer } from "../../src/pipeline/trainers/reference.trainer.js";
import { walkFiles } from "../../src/pipeline/walk-files.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { findVersionedJobById } from "../../src/store/job.repository.js";
import { listOperationLogs } from "../../src/store/operation-log.repository.js";
import { listTasksOfJob } from "../../src/store/task.repository.js";
import { ensureClips } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { jobWaitingForTraining } from "../support/pipeline.js";
import { jobsUrl, startTestApp, startTestServer, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

describe.each(ENGINES)("worker protocol on %s", (engine) => {
  let s: TestServer;
  let token: string;

  beforeAll(async () => {
    s = await startTestApp(engine, [0], { DOPPEL_TASK_LEASE_SECONDS: "30" });
    token = (await createAdminToken(s.t.runtime, "gpu-farm")).token;
  });
  afterAll(async () => s?.close());
  afterEach(async () => {
    await s.t.runtime.database.db.deleteFrom("tasks").execute();
  });

  const call = async (path: string, body: unknown, bearer: string | null = token) => {
    const res = await s.fetch(`${s.baseUrl}/worker/v1${path}`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        ...(bearer !== null && { Authorization: `Bearer ${bearer}` }),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };

  /** A job waiting for training, with (fake) preprocessed inputs in the blob store. */
  async function jobReadyToTrain(): Promise<string> {
    const projectId = (s.projects[0] as TestServer["projects"][number]).id;
    const id = await jobWaitingForTraining(s.t.runtime, projectId, s.t.clock.now);
    for (const file of PREPROCESSED_FILES) {
      await s.t.runtime.blobs.put(
        preprocessedKey(id, file),
        Readable.from([Buffer.from(`${file} of ${id}`)]),
      );
    }
    return id;
  }
  const stateOf = async (id: string) => (await findVersionedJobById(s.t.runtime.database.db, id))?.job;

  it("takes operator tokens only, and says when there is nothing to do", async () => {
    expect((await call("/claim", { worker: "gpu-1" }, null)).status).toBe(401);
    expect((await call("/claim", { worker: "gpu-1" }, s.projects[0]?.token)).status).toBe(403);
    expect(await call("/claim", { worker: "gpu-1" })).toEqual({ status: 200, body: { task: null } });
    expect((await call("/claim", { worker: "../etc" })).status).toBe(400);
  });

  it("claims a training task, serves its inputs, takes its outputs, and completes it once", async () => {
    const id = await jobReadyToTrain();
    const claimed = await call("/claim", { worker: "gpu-1" });
    expect(claimed.status).toBe(200);
    const task = claimed.body.task;
    expect(task).toMatchObject({ job_id: id, stage: "train", claim: 1, lease_seconds: 30 });
    expect(Object.keys(task.inputs).sort()).toEqual([...PREPROCESSED_FILES].sort());
    expect((await stateOf(id))?.state).toBe("TRAINING");
    expect(await call("/claim", { worker: "gpu-2" })).toEqual({ status: 200, body: { task: null } });

    const faces = await s.fetch(task.inputs["faces.json"]);
    expect(await faces.text()).toBe(`faces.json of ${id}`);
    const tampered = new URL(task.inputs["faces.json"]);
    tampered.pathname = tampered.pathname.replace("faces.json", "audio.wav");
    expect((await s.fetch(tampered)).status).toBe(403);

    const hb = await call(`/tasks/${task.task_id}/heartbeat`, { worker: "gpu-1", progress: 0.4 });
    expect(hb).toEqual({ status: 200, body: { lease_seconds: 30 } });
    expect((await listTasksOfJob(s.t.runtime.database.db, id))[0]?.progress).toBeCloseTo(0.4);
    expect((await call(`/tasks/${task.task_id}/heartbeat`, { worker: "gpu-2" })).status).toBe(409);

    const put = (path: string, body: string) =>
      s.fetch(task.output_url.replace("{path}", path), { method: "PUT", body });
    expect((await put("manifest.json", "{}")).status).toBe(200);
    expect((await put("crops/000000.png", "png")).status).toBe(200);
    expect((await put("..%2Fescape", "x")).status).toBe(400);
    const otherClaim = task.output_url.replace(`/${task.claim}/outputs/`, `/${task.claim + 1}/outputs/`);
    expect((await s.fetch(otherClaim.replace("{path}", "a"), { method: "PUT", body: "x" })).status).toBe(403);

    const done = await call(`/tasks/${task.task_id}/complete`, { worker: "gpu-1", description: "epoch 10" });
    expect(done).toEqual({ status: 200, body: { status: "completed" } });
    const job = await stateOf(id);
    expect(job?.state).toBe("TRAIN_SUCCESS");
    const stored = await s.t.runtime.blobs.list(trainedPackagePrefix(id));
    expect(stored.map((b) => b.key.slice(trainedPackagePrefix(id).length))).toEqual([
      "crops/000000.png",
      "manifest.json",
    ]);
    const log = (await listOperationLogs(s.t.runtime.database.db, id)).find((l) => l.logType === "TRAIN");
    expect(log?.logDescription).toBe("Trained by remote worker gpu-1: 2 files: epoch 10");
    expect((await call(`/tasks/${task.task_id}/complete`, { worker: "gpu-1" })).status).toBe(409);
    expect((await put("late.bin", "x")).status).toBe(409);
  });

  it("retries a failure the worker calls transient, and fails the job on a permanent one", async () => {
    const id = await jobReadyToTrain();
    const first = (await call("/claim", { worker: "gpu-1" })).body.task;
    const retried = await call(`/tasks/${first.task_id}/fail`, {
      worker: "gpu-1",
      reason: "CUDA OOM",
      retry: true,
    });
    expect(retried.body).toMatchObject({ status: "retrying" });
    expect(retried.body.retry_in_seconds).toBeGreaterThanOrEqual(1);
    expect((await stateOf(id))?.state).toBe("TRAINING");
    s.t.clock.set(s.t.clock.now + 5_000);
    const second = (await call("/claim", { worker: "gpu-2" })).body.task;
    expect(second).toMatchObject({ task_id: first.task_id, claim: 2 });
    const failed = await call(`/tasks/${second.task_id}/fail`, {
      worker: "gpu-2",
      reason: "The video is too dark to train",
    });
    expect(failed.body).toEqual({ status: "failed" });
    const job = await stateOf(id);
    expect(job).toMatchObject({ state: "TRAIN_FAILED", message: "The video is too dark to train" });
  });

  it("hands a task whose worker went silent to another worker once the lease runs out", async () => {
    const id = await jobReadyToTrain();
    const first = (await call("/claim", { worker: "gpu-1" })).body.task;
    expect(await call("/claim", { worker: "gpu-2" })).toEqual({ status: 200, body: { task: null } });
    s.t.clock.set(s.t.clock.now + 31_000);
    const second = (await call("/claim", { worker: "gpu-2" })).body.task;
    expect(second).toMatchObject({ task_id: first.task_id, job_id: id, claim: 2 });
    expect((await call(`/tasks/${first.task_id}/heartbeat`, { worker: "gpu-1" })).status).toBe(409);
    expect(
      (await s.fetch(first.output_url.replace("{path}", "x"), { method: "PUT", body: "x" })).status,
    ).toBe(409);
    expect((await call(`/tasks/${first.task_id}/complete`, { worker: "gpu-1" })).status).toBe(409);
    expect((await stateOf(id))?.state).toBe("TRAINING");
  });

  it("refuses output paths no package could hold, and answers any path of a live claim with 200 or 400", async () => {
    await jobReadyToTrain();
    const task = (await call("/claim", { worker: "gpu-1" })).body.task;
    const put = (path: string) =>
      s.fetch(task.output_url.replace("{path}", path), { method: "PUT", body: "x" });
    const refusal = async (path: string) => {
      const res = await put(path);
      return { status: res.status, body: (await res.json()) as { error_code: string; error_msg: string } };
    };
    // Names the blob stores keep for themselves, and directories with no file name.
    expect((await refusal(".doppel-tmp/x")).status).toBe(400);
    expect((await refusal("crops/.doppel")).status).toBe(400);
    expect((await refusal("a/")).status).toBe(400);
    // One path cannot be a file and a directory at once, in either order.
    expect((await put("a")).status).toBe(200);
    const under = await refusal("a/b");
    expect(under.status).toBe(400);
    expect(under.body.error_msg).toMatch(/"a" is already a file/);
    expect((await put("c/d")).status).toBe(200);
    const over = await refusal("c");
    expect(over.status).toBe(400);
    expect(over.body.error_msg).toMatch(/"c" is already a directory/);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom("x", "y", ".", "..", ".doppel", "", "é", "%2F", "z.bin"), {
          minLength: 1,
          maxLength: 4,
        }),
        async (segments) => {
          // fetch resolves `.` and `..` itself, so some paths leave the signed prefix (403) or every route (404).
          const res = await put(segments.join("/"));
          expect([200, 400, 403, 404]).toContain(res.status);
          if (res.status !== 200)
            expect(Object.keys((await res.json()) as object).sort()).toEqual(["error_code", "error_msg"]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("answers any worker name, path and body with a 4xx in MetaStudio's envelope, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 120 }),
        fc.oneof(fc.string(), fc.object(), fc.record({ worker: fc.string(), progress: fc.double() })),
        async (taskId, path, body) => {
          for (const verb of ["heartbeat", "complete", "fail"]) {
            const res = await s.fetch(`${s.baseUrl}/worker/v1/tasks/${encodeURIComponent(taskId)}/${verb}`, {
              method: "POST",
              headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
              body: JSON.stringify(body),
            });
            expect(res.status, verb).toBeGreaterThanOrEqual(400);
            expect(res.status, verb).toBeLessThan(500);
            expect(Object.keys((await res.json()) as object).sort()).toEqual(["error_code", "error_msg"]);
          }
          const put = await s.fetch(
            `${s.baseUrl}/worker/v1/tasks/${"0".repeat(32)}/1/outputs/${encodeURI(path)}?expires=1&signature=${"0".repeat(64)}`,
            {
              method: "PUT",
              body: "x",
            },
          );
          expect([400, 403, 404]).toContain(put.status);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("a remote trainer over HTTP on real clips", () => {
  let s: TestServer;
  let pipeline: RunningPipeline;
  let work: string;

  beforeAll(async () => {
    s = await startTestServer("sqlite", [0], {
      DOPPEL_VERIFY_POLICY: "dev",
      // The server's own workers do everything but training, which the remote trainer below takes.
      DOPPEL_WORKER_STAGES: "verify,review,preprocess,package",
    });
    pipeline = await startPipeline({ ...s.t.runtime, now: Date.now }, { info() {}, warn() {}, error() {} });
    work = await mkdtemp(join(tmpdir(), "doppel-remote-"));
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
    await s?.close();
    await rm(work, { recursive: true, force: true });
  });

  /** One round of a remote worker: claim, download, train, upload, complete. */
  async function remoteRound(token: string): Promise<boolean> {
    const post = (path: string, body: unknown) =>
      fetch(`${s.baseUrl}/worker/v1${path}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<Body>);
    const { task } = await post("/claim", { worker: "remote-box" });
    if (!task) return false;
    const input = join(work, task.task_id, "input");
    const output = join(work, task.task_id, "output");
    await mkdir(input, { recursive: true });
    await mkdir(output, { recursive: true });
    // Every input is the file preprocessing recorded, as the claim's input_sha256 says.
    expect(Object.keys(task.input_sha256).sort()).toEqual(Object.keys(task.inputs).sort());
    for (const [name, url] of Object.entries(task.inputs as Record<string, string>)) {
      const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
      expect(createHash("sha256").update(bytes).digest("hex"), name).toBe(task.input_sha256[name]);
      await writeFile(join(input, name), bytes);
    }
    await referenceTrainer.train({
      inputDir: input,
      outputDir: output,
      signal: new AbortController().signal,
      progress: (p) => void post(`/tasks/${task.task_id}/heartbeat`, { worker: "remote-box", progress: p }),
      log: () => {},
    });
    for (const { path } of await walkFiles(output)) {
      const res = await fetch(task.output_url.replace("{path}", path), {
        method: "PUT",
        body: await readFile(join(output, path)),
      });
      expect(res.status).toBe(200);
    }
    expect(await post(`/tasks/${task.task_id}/complete`, { worker: "remote-box" })).toEqual({
      status: "completed",
    });
    return true;
  }

  it("takes a submitted clip to JOB_SUCCESS with the training done by the remote trainer", async () => {
    const clips = await ensureClips();
    const token = (await createAdminToken(s.t.runtime, "remote")).token;
    const project = s.projects[0] as TestServer["projects"][number];
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${jobsUrl(s, project.id)}${path}`, {
        method,
        headers: { "X-Auth-Token": project.token, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then((r) => r.json() as Promise<Body>);
    const created = await api("POST", "", { name: "Remote", video_multipart_count: 1 });
    await fetch(created.training_video_upload_url[0], { method: "PUT", body: await readFile(clips.personA) });
    await fetch(created.grant_file_upload_url, { method: "PUT", body: await readFile(clips.personAConsent) });
    await api("POST", `/${created.job_id}/command`, { command: "CONFIRM_MULTIPART_UPLOADED" });
    await api("POST", `/${created.job_id}/command`, { command: "SUBMITVERIFYING" });

    let trained = false;
    let job: Body;
    const deadline = Date.now() + 120_000;
    do {
      // The API's clock is the test's; keep it with the workers' real one so their tasks come due.
      s.t.clock.set(Date.now());
      trained = (await remoteRound(token)) || trained;
      job = await api("GET", `/${created.job_id}`);
      await new Promise((r) => setTimeout(r, 200));
    } while (!/FAILED$|^JOB_SUCCESS$/.test(job.state) && Date.now() < deadline);
    expect(trained).toBe(true);
    expect(job.state).toBe("JOB_SUCCESS");
    const train = job.operation_logs.find((l: Body) => l.log_type === "TRAIN");
    expect(train.log_description).toMatch(/^Trained by remote worker remote-box: \d+ files$/);
    expect(job.asset_id).toMatch(/^[0-9a-f]{32}$/);
  }, 150_000);
});
