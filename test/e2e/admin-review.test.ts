/**
 * The admin review API on both databases, through `app.inject()`: operator tokens only, the queue of
 * jobs in MANUAL_VERIFYING, approve (on to preprocessing, with its task queued) and reject (with a
 * reason the user sees), refusals in MetaStudio's envelope, and no 5xx for any input.
 */
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { upsertJobFile } from "../../src/store/job-file.repository.js";
import { listTasksOfJob } from "../../src/store/task.repository.js";
import { ENGINES } from "../support/databases.js";
import { jobsUrl, startTestApp, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

describe.each(ENGINES)("admin review API on %s", (engine) => {
  let s: TestServer;
  let admin: string;

  beforeAll(async () => {
    s = await startTestApp(engine, [80, 40], { DOPPEL_REVIEW: "manual" });
    admin = (await createAdminToken(s.t.runtime, "Alice")).token;
  });
  afterAll(async () => s?.close());

  const call = async (method: string, path: string, body?: unknown, token: string | null = admin) => {
    const res = await s.fetch(`${s.baseUrl}/admin/v1${path}`, {
      method,
      headers: {
        ...(token !== null && { Authorization: `Bearer ${token}` }),
        ...(body !== undefined && { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const show = async (project: TestServer["projects"][number], jobId: string) =>
    (await (
      await s.fetch(`${jobsUrl(s, project.id)}/${jobId}`, { headers: { "X-Auth-Token": project.token } })
    ).json()) as Body;

  it("takes operator tokens only", async () => {
    const none = await call("GET", "/reviews", undefined, null);
    expect(none.status).toBe(401);
    expect(none.body.error_msg).toMatch(/doppel admin-token create/);
    const project = await call("GET", "/reviews", undefined, s.projects[0]?.token);
    expect(project).toMatchObject({
      status: 403,
      body: { error_msg: expect.stringMatching(/operator tokens only/) },
    });
    expect((await call("GET", "/reviews", undefined, "dpa_forged")).status).toBe(401);
  });

  it("lists every project's jobs waiting for review, the longest-waiting first", async () => {
    const queue = await call("GET", "/reviews?limit=100");
    expect(queue.status).toBe(200);
    const projects = s.projects.map((p) => p.id);
    let expected = 0;
    for (const project of s.projects) {
      const listed = (await (
        await s.fetch(jobsUrl(s, project.id, "state=MANUAL_VERIFYING&limit=100"), {
          headers: { "X-Auth-Token": project.token },
        })
      ).json()) as Body;
      expected += listed.count;
    }
    expect(expected).toBeGreaterThan(0);
    expect(queue.body.count).toBe(expected);
    expect(queue.body.jobs).toHaveLength(expected);
    for (const job of queue.body.jobs) {
      expect(job.state).toBe("MANUAL_VERIFYING");
      expect(projects).toContain(job.project_id);
      expect(job).toHaveProperty("verify_report", null);
    }
    const times = queue.body.jobs.map((j: Body) => j.update_time);
    expect([...times].sort()).toEqual(times);
    const page = await call("GET", "/reviews?offset=1&limit=1");
    expect(page.body.jobs).toEqual([queue.body.jobs[1]]);
  });

  it("gives the reviewer signed links to the job's video and consent, to watch and read before deciding", async () => {
    const waiting = (await call("GET", "/reviews?limit=1")).body.jobs[0];
    const letter = Buffer.from("%PDF-1.4\n% the signed consent letter\n");
    const stored = await s.t.runtime.blobs.put(
      `jobs/${waiting.job_id}/test-letter.pdf`,
      Readable.from([letter]),
    );
    await upsertJobFile(s.t.runtime.database.db, waiting.job_id, {
      slot: "grant-file",
      blobKey: stored.key,
      size: stored.size,
      sha256: stored.sha256,
      etag: stored.etag,
      contentType: "application/pdf",
      uploadTime: s.t.clock.now,
    });
    const listed = (await call("GET", "/reviews?limit=1")).body.jobs[0];
    expect(listed.job_id).toBe(waiting.job_id);
    expect(listed).not.toHaveProperty("training_video_download_url");
    const download = await s.fetch(listed.grant_file_download_url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(letter);
  });

  it("approves a job on to preprocessing with its task queued, and rejects another with the reason the user sees", async () => {
    const queue = (await call("GET", "/reviews?limit=2")).body.jobs;
    const [first, second] = queue as [Body, Body];
    const approved = await call("POST", `/reviews/${first.job_id}/approve`, { comment: "looks fine" });
    expect(approved).toMatchObject({
      status: 200,
      body: { job_id: first.job_id, state: "WAIT_TRAINING_DATA_PREPROCESS" },
    });
    const tasks = await listTasksOfJob(s.t.runtime.database.db, first.job_id);
    expect(tasks.map((t) => [t.stage, t.state])).toEqual([["preprocess", "queued"]]);
    const live = await call("GET", "/tasks?limit=100");
    expect(live.status).toBe(200);
    expect(live.body.tasks).toContainEqual({
      task_id: tasks[0]?.id,
      job_id: first.job_id,
      stage: "preprocess",
      state: "queued",
      progress: 0,
      claims: 0,
      failures: 0,
      run_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect((await call("GET", "/tasks", undefined, s.projects[0]?.token)).status).toBe(403);
    const project = s.projects.find((p) => p.id === first.project_id) as TestServer["projects"][number];
    const logs = (await show(project, first.job_id)).operation_logs as Body[];
    expect(logs.at(-2)).toMatchObject({
      operate_user: "ADMIN",
      log_type: "MANUAL_VERIFY",
      log_description: "Approved by Alice: looks fine",
    });

    const noReason = await call("POST", `/reviews/${second.job_id}/reject`, { reason: "   " });
    expect(noReason.status).toBe(400);
    const rejected = await call("POST", `/reviews/${second.job_id}/reject`, {
      reason: "The consent letter is not signed",
    });
    expect(rejected).toMatchObject({
      status: 200,
      body: { state: "MANUAL_VERIFY_FAILED", message: "The consent letter is not signed" },
    });
    const owner = s.projects.find((p) => p.id === second.project_id) as TestServer["projects"][number];
    const detail = await show(owner, second.job_id);
    expect(detail.state).toBe("MANUAL_VERIFY_FAILED");
    expect(detail.operation_logs.at(-1)).toMatchObject({
      operate_user: "ADMIN",
      error_code: "DOPPEL.REVIEW_REJECTED",
      redo_reasons: ["The consent letter is not signed"],
    });

    const again = await call("POST", `/reviews/${first.job_id}/approve`);
    expect(again.status).toBe(409);
    expect(again.body.error_msg).toMatch(/WAIT_TRAINING_DATA_PREPROCESS; only jobs in MANUAL_VERIFYING/);
    expect((await call("POST", `/reviews/${"0".repeat(32)}/approve`)).status).toBe(404);
  });

  it("answers any job id, body and paging with a 4xx in MetaStudio's envelope, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 80 }),
        fc.oneof(fc.constant(undefined), fc.string(), fc.object(), fc.record({ reason: fc.string() })),
        fc.constantFrom("approve", "reject"),
        fc.string({ maxLength: 12 }),
        async (id, body, verb, offset) => {
          const res = await s.fetch(`${s.baseUrl}/admin/v1/reviews/${encodeURIComponent(id)}/${verb}`, {
            method: "POST",
            headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(Object.keys((await res.json()) as object).sort()).toEqual(["error_code", "error_msg"]);
          const list = await s.fetch(`${s.baseUrl}/admin/v1/reviews?offset=${encodeURIComponent(offset)}`, {
            headers: { Authorization: `Bearer ${admin}` },
          });
          expect([200, 400]).toContain(list.status);
        },
      ),
      { numRuns: 60 },
    );
  });
});
