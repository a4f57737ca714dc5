import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_STATES } from "../../src/domain/states.js";
import { ENGINES } from "../support/databases.js";
import { jobsUrl, startTestApp, type TestServer, tokenApi } from "../support/server.js";

const BASIC_INFO_KEYS = new Set([
  "job_id",
  "name",
  "state",
  "asset_id",
  "project_id",
  "cover_download_url",
  "last_update_time",
  "create_time",
  "contact",
  "batch_name",
  "tags",
  "model_version",
  "matting_type",
  "model_resolution",
  "app_user_id",
]);
const UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

describe.each(ENGINES)("MetaStudio list over HTTP on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];
  let b: TestServer["projects"][number];
  const get = (url: string, headers: Record<string, string> = {}) =>
    s.fetch(url, { headers: { "X-Auth-Token": a.token, ...headers } });

  beforeAll(async () => {
    s = await startTestApp(engine);
    [a, b] = s.projects as [typeof a, typeof b];
  });
  afterAll(async () => s?.close());

  it("lists the first page with exactly the documented fields and types", async () => {
    const res = await get(jobsUrl(s, a.id));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
    const body = (await res.json()) as { count: number; jobs: Array<Record<string, unknown>> };
    expect(Object.keys(body).sort()).toEqual(["count", "jobs"]);
    expect(body.count).toBe(a.jobs);
    expect(body.jobs).toHaveLength(10);
    for (const job of body.jobs) {
      for (const key of Object.keys(job)) expect(BASIC_INFO_KEYS.has(key), key).toBe(true);
      expect(job.job_id).toMatch(/^[0-9a-f]{32}$/);
      expect(job.project_id).toBe(a.id);
      expect(ALL_STATES).toContain(job.state);
      expect(job.create_time).toMatch(UTC_SECONDS);
      expect(job.last_update_time).toMatch(UTC_SECONDS);
      expect(Array.isArray(job.tags)).toBe(true);
      expect(["V2", "V3", "V3.2", "V3.3"]).toContain(job.model_version);
      expect(["AI", "MANUAL"]).toContain(job.matting_type);
      expect(["1080P", "4K"]).toContain(job.model_resolution);
    }
    const times = body.jobs.map((j) => String(j.create_time));
    expect([...times].sort()).toEqual(times);
  });

  it("pages, sorts and filters by state", async () => {
    const all = (await (await get(jobsUrl(s, a.id, "limit=100&offset=0&sort_dir=desc"))).json()) as {
      jobs: Array<{ job_id: string; state: string; create_time: string }>;
    };
    const next = (await (await get(jobsUrl(s, a.id, "limit=100&offset=100&sort_dir=desc"))).json()) as {
      count: number;
      jobs: Array<{ job_id: string }>;
    };
    expect(all.jobs).toHaveLength(100);
    expect(next.jobs).toHaveLength(a.jobs - 100);
    expect(new Set([...all.jobs, ...next.jobs].map((j) => j.job_id)).size).toBe(a.jobs);
    const times = all.jobs.map((j) => j.create_time);
    expect([...times].sort().reverse()).toEqual(times);

    const res = await get(jobsUrl(s, a.id, "state=JOB_SUCCESS,JOB_FINISH&limit=100"));
    const filtered = (await res.json()) as { count: number; jobs: Array<{ state: string }> };
    expect(filtered.count).toBeGreaterThan(0);
    expect(filtered.jobs.every((j) => j.state === "JOB_SUCCESS" || j.state === "JOB_FINISH")).toBe(true);
  });

  it("includes a job in a range that ends at its own displayed create_time or update_time", async () => {
    // Stored times carry milliseconds; the wire shows whole seconds. A bound without a fraction covers
    // its whole second, so a job's own displayed time, used as a bound, always finds the job.
    const api = tokenApi(s, a);
    const list = async (query: string) =>
      (await api<{ count: number; jobs: Array<Record<string, string>> }>("GET", `?${query}`)).body;
    const realTime = s.t.clock.now;
    s.t.clock.set(Date.UTC(2026, 5, 1, 8, 30, 15, 987));
    const jobId = (await api<{ job_id: string }>("POST", "", { name: "Bounds" })).body.job_id;
    s.t.clock.set(realTime);
    const [job] = (await list(`job_id=${jobId}`)).jobs;
    expect(job?.create_time).toBe("2026-06-01T08:30:15Z");
    for (const query of [
      `create_until=${job?.create_time}`,
      `create_since=${job?.create_time}&create_until=${job?.create_time}`,
      `update_until=${job?.last_update_time}`,
      `update_since=${job?.last_update_time}&update_until=${job?.last_update_time}`,
    ]) {
      expect((await list(`job_id=${jobId}&${query}`)).count, query).toBe(1);
    }
    expect((await list(`job_id=${jobId}&create_until=2026-06-01T08:30:14Z`)).count).toBe(0);
    expect((await list(`job_id=${jobId}&create_since=2026-06-01T08:30:16Z`)).count).toBe(0);
    expect((await list(`job_id=${jobId}&create_until=2026-06-01T08:30:15.500Z`)).count).toBe(0);
  });

  it("narrows to the end user named by X-App-UserId", async () => {
    const all = (await (await get(jobsUrl(s, a.id, "limit=100"))).json()) as {
      jobs: Array<{ app_user_id?: string }>;
    };
    const user = all.jobs.find((j) => j.app_user_id)?.app_user_id as string;
    const mine = (await (await get(jobsUrl(s, a.id, "limit=100"), { "X-App-UserId": user })).json()) as {
      count: number;
      jobs: Array<{ app_user_id?: string }>;
    };
    expect(mine.count).toBeGreaterThan(0);
    expect(mine.jobs.every((j) => j.app_user_id === user)).toBe(true);
  });

  it("refuses another project's URL, query_project_id and a bad token", async () => {
    const other = await get(jobsUrl(s, b.id));
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ error_code: "MSS.00010009" });
    const query = await get(jobsUrl(s, a.id, `query_project_id=${b.id}`));
    expect(query.status).toBe(403);
    const bad = await s.fetch(jobsUrl(s, a.id), { headers: { "X-Auth-Token": "dpl_nope" } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error_code: "MSS.00010008" });
    const none = await s.fetch(jobsUrl(s, a.id));
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error_msg: string }).error_msg).toMatch(/no credentials/);
  });

  it("explains each bad parameter in MetaStudio's envelope", async () => {
    const cases: Array<[string, RegExp]> = [
      ["limit=0", /limit/],
      ["limit=101", /limit/],
      ["limit=abc", /limit/],
      ["limit=1e1", /limit: expected a whole number/],
      ["limit=0x10", /limit/],
      ["offset=1.5", /offset/],
      ["limit=1&limit=2", /limit/],
      ["offset=-1", /offset/],
      ["sort_key=name", /sort_key.*create_time, update_time/],
      ["sort_dir=up", /sort_dir/],
      ["state=JOB_SUCCESS,NOPE", /unknown state "NOPE"/],
      ["create_since=yesterday", /create_since/],
      ["create_since=2025-02-01T00:00:00Z&create_until=2025-01-01T00:00:00Z", /later than create_until/],
      [`name=${encodeURIComponent("a\u0000b")}`, /control characters/],
      [`tag=${"x".repeat(2000)}`, /tag/],
    ];
    for (const [query, message] of cases) {
      const res = await get(jobsUrl(s, a.id, query));
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error_code: string; error_msg: string };
      expect(body.error_code, query).toBe("MSS.00000003");
      expect(body.error_msg, query).toMatch(message);
    }
  });

  it("answers unknown paths and methods in MetaStudio's envelope", async () => {
    const missing = await get(`${s.baseUrl}/v1/${a.id}/digital-human-training-manage/user/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error_code: "MSS.00010003" });
    const malformed = await get(`${s.baseUrl}/v1/%E0%A4%A/digital-human-training-manage/user/jobs`);
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({
      error_code: "MSS.00000003",
      error_msg: expect.stringMatching(/UTF-8/),
    });
    const long = await get(`${s.baseUrl}/v1/${"x".repeat(300)}/digital-human-training-manage/user/jobs`);
    expect(long.status).toBe(400);
    expect(await long.json()).toMatchObject({ error_code: "MSS.00000003" });
    const method = await s.fetch(jobsUrl(s, a.id), { method: "PATCH", headers: { "X-Auth-Token": a.token } });
    expect(method.status).toBe(405);
    expect(await method.json()).toMatchObject({ error_code: "MSS.00010004" });
  });

  it("never answers 5xx and never leaks another project, whatever the query", async () => {
    const params = [
      "offset",
      "limit",
      "sort_key",
      "sort_dir",
      "create_since",
      "create_until",
      "update_since",
      "update_until",
      "state",
      "query_project_id",
      "batch_name",
      "tag",
      "job_id",
      "name",
      "model_resolution",
    ];
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.integer({ min: -5, max: 500 }).map(String),
      fc.constantFrom(
        "JOB_SUCCESS,TRAINING",
        "2025-01-01T00:00:00Z",
        "asc",
        "desc",
        "update_time",
        "1e3",
        "0x10",
        "",
        "%",
        "%E0%A4%A",
        "NaN",
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...params), value), { maxLength: 5 }),
        async (pairs) => {
          const query = pairs
            .map(([k, v]) => `${k}=${/%/.test(v) && v.length < 12 ? v : encodeURIComponent(v)}`)
            .join("&");
          const res = await get(jobsUrl(s, a.id, query));
          expect([200, 400, 403]).toContain(res.status);
          const body = (await res.json()) as {
            jobs?: Array<{ project_id: string }>;
            error_code?: string;
            error_msg?: string;
          };
          if (res.status === 200) expect(body.jobs?.every((j) => j.project_id === a.id)).toBe(true);
          else {
            expect(body.error_code).toMatch(/^MSS\.\d{8}$/);
            expect(body.error_msg?.length).toBeGreaterThan(5);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
