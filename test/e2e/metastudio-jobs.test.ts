import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINES } from "../support/databases.js";
import { jobsUrl, startTestApp, type TestServer } from "../support/server.js";

describe.each(ENGINES)("MetaStudio create, show and delete on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];
  let b: TestServer["projects"][number];
  const call = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
    s.fetch(url, {
      method,
      headers: {
        "X-Auth-Token": a.token,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    s = await startTestApp(engine, [3, 1]);
    [a, b] = s.projects as [typeof a, typeof b];
  });
  afterAll(async () => s?.close());

  it("creates a job in WAIT_FILE_UPLOAD with one signed upload URL per part and slot", async () => {
    const res = await call("POST", jobsUrl(s, a.id), {
      name: "Anna",
      contact: "anna@example.com",
      batch_name: "b1",
      tags: ["news", "news", "zh"],
      video_multipart_count: 3,
      action_video_multipart_count: 2,
      model_resolution: "4K",
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as Record<string, unknown> & {
      job_id: string;
      training_video_upload_url: string[];
    };
    expect(created.job_id).toMatch(/^[0-9a-f]{32}$/);
    expect(created.training_video_upload_url).toHaveLength(3);
    expect(created.action_video_upload_url).toHaveLength(2);
    const part2 = new URL(created.training_video_upload_url[1] as string);
    expect(part2.origin).toBe(s.baseUrl);
    expect(part2.pathname).toBe(`/uploads/${created.job_id}/training-video/2`);
    expect(part2.searchParams.get("signature")).toMatch(/^[0-9a-f]{64}$/);
    const expires = Number(part2.searchParams.get("expires")) * 1000;
    expect(expires - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    for (const key of ["cover_upload_url", "grant_file_upload_url", "audio_upload_url"]) {
      expect(String(created[key])).toContain(`/uploads/${created.job_id}/`);
    }

    const shown = await call("GET", `${jobsUrl(s, a.id)}/${created.job_id}`);
    expect(shown.status).toBe(200);
    const detail = (await shown.json()) as Record<string, unknown> & {
      operation_logs: Array<Record<string, unknown>>;
    };
    expect(detail).toMatchObject({
      job_id: created.job_id,
      name: "Anna",
      state: "WAIT_FILE_UPLOAD",
      project_id: a.id,
      contact: "anna@example.com",
      batch_name: "b1",
      tags: ["news", "zh"],
      model_version: "V3",
      matting_type: "AI",
      model_resolution: "4K",
      video_multipart_count: 3,
      action_video_multipart_count: 2,
    });
    expect(detail.operation_logs).toEqual([
      {
        operate_time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
        log_type: "CREATE_JOB",
        log_description: expect.any(String),
        operate_user: "USER",
        redo_reasons: [],
      },
    ]);

    const listed = (await (await call("GET", jobsUrl(s, a.id, `job_id=${created.job_id}`))).json()) as {
      count: number;
    };
    expect(listed.count).toBe(1);
  });

  it("returns the same job for the same X-Client-Token, even when the creates race", async () => {
    const body = { name: "Idem" };
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        call("POST", jobsUrl(s, a.id), body, { "X-Client-Token": "token-123" }),
      ),
    );
    const ids = await Promise.all(results.map(async (r) => ((await r.json()) as { job_id: string }).job_id));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(ids).size).toBe(1);
    const listed = (await (await call("GET", jobsUrl(s, a.id, "limit=100"))).json()) as {
      jobs: Array<{ name: string }>;
    };
    expect(listed.jobs.filter((j) => j.name === "Idem")).toHaveLength(1);
    // Another project may use the same token for its own job.
    const other = await s.fetch(jobsUrl(s, b.id), {
      method: "POST",
      headers: { "X-Auth-Token": b.token, "Content-Type": "application/json", "X-Client-Token": "token-123" },
      body: JSON.stringify(body),
    });
    expect(((await other.json()) as { job_id: string }).job_id).not.toBe(ids[0]);
  });

  it("deletes a job in a deletable state and refuses one that is not", async () => {
    const { job_id } = (await (await call("POST", jobsUrl(s, a.id), { name: "Gone" })).json()) as {
      job_id: string;
    };
    const deleted = await call("DELETE", `${jobsUrl(s, a.id)}/${job_id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(await deleted.text()).toBe("");
    const again = await call("GET", `${jobsUrl(s, a.id)}/${job_id}`);
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ error_code: "MSS.10002001" });

    const training = (await (
      await call(
        "GET",
        jobsUrl(
          s,
          a.id,
          "limit=100&state=TRAINING,AUTO_VERIFYING,TRAIN_SUCCESS,MANUAL_VERIFY_SUCCESS,TRAINING_DATA_PREPROCESSING,JOB_PENDING",
        ),
      )
    ).json()) as {
      jobs: Array<{ job_id: string; state: string }>;
    };
    for (const job of training.jobs) {
      const refused = await call("DELETE", `${jobsUrl(s, a.id)}/${job.job_id}`);
      expect(refused.status).toBe(409);
      const error = (await refused.json()) as { error_code: string; error_msg: string };
      expect(error.error_code).toBe("MSS.10002002");
      expect(error.error_msg).toContain(job.state);
    }
  });

  it("never shows or deletes another project's job", async () => {
    const { job_id } = (await (
      await s.fetch(jobsUrl(s, b.id), {
        method: "POST",
        headers: { "X-Auth-Token": b.token, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "Theirs" }),
      })
    ).json()) as { job_id: string };
    for (const method of ["GET", "DELETE"]) {
      const res = await call(method, `${jobsUrl(s, a.id)}/${job_id}`);
      expect(res.status).toBe(404);
    }
  });

  it("explains bad create bodies and never answers 5xx", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /name/],
      [{ name: "" }, /name/],
      [{ name: "x", video_multipart_count: 0 }, /video_multipart_count/],
      [{ name: "x", video_multipart_count: 1001 }, /video_multipart_count/],
      [{ name: "x", model_version: "V9" }, /model_version/],
      [{ name: "x", tags: "news" }, /tags/],
      [{ name: "a\u0000b" }, /control characters/],
      ["{not json", /not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const res = await call("POST", jobsUrl(s, a.id), body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = (await res.json()) as { error_code: string; error_msg: string };
      expect(error.error_code).toMatch(/^MSS\.0000000[23]$/);
      expect(error.error_msg, JSON.stringify(body)).toMatch(message);
    }
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ name: fc.string({ unit: "binary", maxLength: 80 }), tags: fc.array(fc.string()) }),
        ),
        async (body) => {
          const res = await call("POST", jobsUrl(s, a.id), JSON.stringify(body));
          expect([200, 400]).toContain(res.status);
          const json = (await res.json()) as Record<string, unknown>;
          if (res.status === 400) expect(Object.keys(json).sort()).toEqual(["error_code", "error_msg"]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
