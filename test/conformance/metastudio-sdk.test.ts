/**
 * MetaStudio List2dModelTrainingJob through the real Huawei SDK core (`ClientBuilder` +
 * `BasicCredentials` → `HcClient`, SDK-HMAC-SHA256 signing) against a listening Doppel, on both
 * databases. Errors are checked as the SDK surfaces them: a `ClientRequestException` with
 * `httpStatusCode`, `errorCode`, `errorMsg` and `requestId`.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ALL_STATES } from "../../src/domain/states.js";
import { ENGINES } from "../support/databases.js";
import {
  credentialsOf,
  type HcClient,
  huaweiClient,
  huaweiError,
  huaweiListJobs,
  type MetaStudioList,
} from "../support/sdk-clients.js";
import { jobsUrl, startTestServer, type TestServer } from "../support/server.js";

const UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** TrainingJobBasicInfo (Table 6 of the reference page, plus the SDK's model_resolution/app_user_id). */
const REQUIRED_FIELDS = {
  job_id: "string",
  name: "string",
  state: "string",
  project_id: "string",
  last_update_time: "string",
  create_time: "string",
  tags: "array",
  model_version: "string",
  matting_type: "string",
  model_resolution: "string",
} as const;
const OPTIONAL_FIELDS = {
  asset_id: "string",
  cover_download_url: "string",
  contact: "string",
  batch_name: "string",
  app_user_id: "string",
} as const;
const ALL_FIELDS: Record<string, string> = { ...REQUIRED_FIELDS, ...OPTIONAL_FIELDS };

function typeOf(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

function expectBasicInfo(job: Record<string, unknown>, projectId: string): void {
  for (const [key, value] of Object.entries(job)) {
    expect(ALL_FIELDS[key], `unexpected field ${key}`).toBeDefined();
    // Absent values are omitted, never null or empty.
    expect(typeOf(value), key).toBe(ALL_FIELDS[key]);
    if (key in OPTIONAL_FIELDS) expect(value, key).not.toBe("");
  }
  for (const key of Object.keys(REQUIRED_FIELDS)) expect(job, key).toHaveProperty(key);
  expect(job.job_id).toMatch(/^[0-9a-f]{32}$/);
  expect(job.project_id).toBe(projectId);
  expect(ALL_STATES).toContain(job.state);
  expect(job.create_time).toMatch(UTC_SECONDS);
  expect(job.last_update_time).toMatch(UTC_SECONDS);
  expect(String(job.last_update_time) >= String(job.create_time)).toBe(true);
  expect((job.tags as unknown[]).every((t) => typeof t === "string")).toBe(true);
  expect(["V2", "V3", "V3.2", "V3.3"]).toContain(job.model_version);
  expect(["AI", "MANUAL"]).toContain(job.matting_type);
  expect(["1080P", "4K"]).toContain(job.model_resolution);
}

describe.each(ENGINES)("MetaStudio list through the Huawei SDK on %s", (engine) => {
  let s: TestServer;
  let a: TestServer["projects"][number];
  let b: TestServer["projects"][number];
  let client: HcClient;
  /** Every job of project a, oldest first, as listed through the SDK. */
  let all: Array<Record<string, unknown>>;

  beforeAll(async () => {
    s = await startTestServer(engine);
    [a, b] = s.projects as [typeof a, typeof b];
    client = huaweiClient(s, credentialsOf(a.key));
    const first = await huaweiListJobs(client, a.id, { offset: 0, limit: 100 });
    const second = await huaweiListJobs(client, a.id, { offset: 100, limit: 100 });
    all = [...first.body.jobs, ...second.body.jobs];
  });
  afterAll(async () => s?.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  it("lists the default page: count, 10 jobs, TrainingJobBasicInfo fields named and typed as documented", async () => {
    const res = await huaweiListJobs(client, a.id);
    expect(res.status).toBe(200);
    expect(res.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(Object.keys(res.body).sort()).toEqual(["count", "jobs"]);
    expect(res.body.count).toBe(a.jobs);
    expect(res.body.jobs).toHaveLength(10);
    for (const job of res.body.jobs) expectBasicInfo(job, a.id);
    // Default sort: create_time ascending.
    const times = res.body.jobs.map((j) => String(j.create_time));
    expect([...times].sort()).toEqual(times);
    // The SDK sees exactly what a token client sees.
    const viaToken = (await (
      await fetch(jobsUrl(s, a.id), { headers: { "X-Auth-Token": a.token } })
    ).json()) as MetaStudioList;
    expect(res.body).toEqual(viaToken);
  });

  it("covers every job exactly once across pages, with optional fields sometimes present", () => {
    expect(all).toHaveLength(a.jobs);
    expect(new Set(all.map((j) => j.job_id)).size).toBe(a.jobs);
    for (const job of all) expectBasicInfo(job, a.id);
    // The seed fills every optional field for some jobs and omits it for others.
    for (const key of ["asset_id", "contact", "batch_name", "app_user_id"]) {
      expect(
        all.some((j) => key in j),
        key,
      ).toBe(true);
      expect(
        all.some((j) => !(key in j)),
        key,
      ).toBe(true);
    }
  });

  it("pages and sorts in both directions and by update_time", async () => {
    const desc = await huaweiListJobs(client, a.id, { offset: 0, limit: 25, sort_dir: "desc" });
    expect(desc.body.count).toBe(a.jobs);
    expect(desc.body.jobs.map((j) => j.job_id)).toEqual(
      [...all]
        .reverse()
        .slice(0, 25)
        .map((j) => j.job_id),
    );
    const middle = await huaweiListJobs(client, a.id, { offset: 37, limit: 11 });
    expect(middle.body.jobs.map((j) => j.job_id)).toEqual(all.slice(37, 48).map((j) => j.job_id));
    const beyond = await huaweiListJobs(client, a.id, { offset: 500, limit: 10 });
    expect(beyond.body).toEqual({ count: a.jobs, jobs: [] });

    const byUpdate = await huaweiListJobs(client, a.id, {
      limit: 100,
      sort_key: "update_time",
      sort_dir: "desc",
    });
    const updates = byUpdate.body.jobs.map((j) => String(j.last_update_time));
    expect([...updates].sort().reverse()).toEqual(updates);
  });

  it("filters by a comma list of states, and count is the filtered total", async () => {
    const wanted = ["JOB_SUCCESS", "WAIT_FILE_UPLOAD"];
    const expected = all.filter((j) => wanted.includes(String(j.state)));
    expect(expected.length).toBeGreaterThan(0);
    const res = await huaweiListJobs(client, a.id, { state: wanted.join(","), limit: 100 });
    expect(res.body.count).toBe(expected.length);
    expect(res.body.jobs.map((j) => j.job_id)).toEqual(expected.slice(0, 100).map((j) => j.job_id));
  });

  it("narrows the list to the end user named by X-App-UserId", async () => {
    const user = all.find((j) => typeof j.app_user_id === "string")?.app_user_id as string;
    const expected = all.filter((j) => j.app_user_id === user);
    const res = await huaweiListJobs(client, a.id, { limit: 100 }, { "X-App-UserId": user });
    expect(res.status).toBe(200);
    expect(res.body.count).toBe(expected.length);
    expect(res.body.jobs.map((j) => j.job_id)).toEqual(expected.map((j) => j.job_id));
    const nobody = await huaweiListJobs(client, a.id, {}, { "X-App-UserId": "nobody-at-all" });
    expect(nobody.body).toEqual({ count: 0, jobs: [] });
  });

  it("answers another project's id in the URL with 403 MSS.00010009 through the SDK's exception", async () => {
    const error = await huaweiError(huaweiListJobs(client, b.id));
    expect(error.name).toBe("ClientRequestException");
    expect(error.httpStatusCode).toBe(403);
    expect(error.errorCode).toBe("MSS.00010009");
    expect(error.errorMsg).toMatch(/project_id in the URL/);
    expect(error.requestId).toMatch(/^[0-9a-f]{32}$/);
    // And the other project's own client is not refused its own list.
    const own = await huaweiListJobs(huaweiClient(s, credentialsOf(b.key)), b.id);
    expect(own.body.count).toBe(b.jobs);
  });

  it("refuses query_project_id naming another project with 403", async () => {
    const error = await huaweiError(huaweiListJobs(client, a.id, { query_project_id: b.id }));
    expect(error.httpStatusCode).toBe(403);
    expect(error.errorCode).toBe("MSS.00010009");
  });

  it("answers a wrong secret with 401 MSS.00010008", async () => {
    const wrong = huaweiClient(s, credentialsOf(a.key, { secret: `${a.key.secret_access_key}x` }));
    const error = await huaweiError(huaweiListJobs(wrong, a.id));
    expect(error.httpStatusCode).toBe(401);
    expect(error.errorCode).toBe("MSS.00010008");
    expect(error.errorMsg).toMatch(/signature/i);
    // Nothing secret is echoed back.
    expect(error.errorMsg).not.toContain(a.key.secret_access_key);
  });

  it("answers an unknown access key with 401 MSS.00010008", async () => {
    const unknown = huaweiClient(s, credentialsOf(a.key, { accessKeyId: "NOSUCHKEY00000000000" }));
    const error = await huaweiError(huaweiListJobs(unknown, a.id));
    expect(error.httpStatusCode).toBe(401);
    expect(error.errorCode).toBe("MSS.00010008");
  });

  it("answers a client whose clock is 20 minutes off with 401, and accepts 10 minutes", async () => {
    // Only Date is faked: the SDK stamps X-Sdk-Date from `moment()`, i.e. Date.now(); timers and I/O are
    // real. The server's clock is its own (fixed at start-up), so only the client is skewed.
    const realNow = Date.now();
    vi.useFakeTimers({ toFake: ["Date"] });
    for (const skewMinutes of [-20, 20]) {
      vi.setSystemTime(realNow + skewMinutes * 60_000);
      const error = await huaweiError(huaweiListJobs(client, a.id));
      expect(error.httpStatusCode, `${skewMinutes} min`).toBe(401);
      expect(error.errorCode).toBe("MSS.00010008");
      // The server clock is fixed at start-up, so the distance is 20 minutes give or take a few seconds.
      expect(error.errorMsg).toMatch(/^X-Sdk-Date \d{8}T\d{6}Z is (19|20) minutes .*away from server time/);
      expect(error.errorMsg).toContain(skewMinutes < 0 ? "dated in the past" : "dated in the future");
    }
    vi.setSystemTime(realNow - 10 * 60_000);
    const accepted = await huaweiListJobs(client, a.id);
    expect(accepted.status).toBe(200);
  });

  it("answers an out-of-range parameter with 400 MSS.00000003 naming it", async () => {
    const error = await huaweiError(huaweiListJobs(client, a.id, { limit: 101 }));
    expect(error.httpStatusCode).toBe(400);
    expect(error.errorCode).toBe("MSS.00000003");
    expect(error.errorMsg).toMatch(/limit/);
  });
});
