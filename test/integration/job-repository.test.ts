import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DoppelError } from "../../src/domain/errors.js";
import type { Job } from "../../src/domain/job.js";
import { newJobId } from "../../src/domain/job.js";
import { ALL_STATES, type JobState, PIPELINE_STATES } from "../../src/domain/states.js";
import { createProject } from "../../src/services/admin.service.js";
import {
  findJobOptions,
  insertJobs,
  type JobFilter,
  type JobPage,
  listJobs,
} from "../../src/store/job.repository.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";

const BASE = Date.UTC(2025, 0, 1);
const HOUR = 3600_000;

/** The list semantics, written the obvious way: the repository must agree with it on every input. */
function reference(all: readonly Job[], filter: JobFilter, page: JobPage): { count: number; ids: string[] } {
  const matching = all.filter(
    (j) =>
      j.projectId === filter.projectId &&
      (filter.appUserId === undefined || j.appUserId === filter.appUserId) &&
      (filter.states === undefined || filter.states.includes(j.state)) &&
      (filter.createSince === undefined || j.createTime >= filter.createSince) &&
      (filter.createUntil === undefined || j.createTime <= filter.createUntil) &&
      (filter.updateSince === undefined || j.updateTime >= filter.updateSince) &&
      (filter.updateUntil === undefined || j.updateTime <= filter.updateUntil) &&
      (filter.batchName === undefined || j.batchName === filter.batchName) &&
      (filter.tag === undefined || j.tags.includes(filter.tag)) &&
      (filter.jobId === undefined || j.id === filter.jobId) &&
      (filter.nameContains === undefined || j.name.includes(filter.nameContains)) &&
      (filter.modelResolution === undefined || j.modelResolution === filter.modelResolution),
  );
  const key = page.sortKey === "create_time" ? "createTime" : "updateTime";
  const sign = page.sortDir === "asc" ? 1 : -1;
  matching.sort((a, b) => sign * (a[key] - b[key] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  return {
    count: matching.length,
    ids: matching.slice(page.offset, page.offset + page.limit).map((j) => j.id),
  };
}

const PROJECTS = 2;
const NAMES = ["Ann", "ann", "Bob", "Bo", "Zoë", "李雷", "a%b", "x_y"];

function jobArbitrary(projectIds: readonly string[]) {
  return fc.record({
    project: fc.integer({ min: 0, max: projectIds.length - 1 }),
    createHours: fc.integer({ min: 0, max: 50 }),
    updateLag: fc.integer({ min: 0, max: 50 }),
    state: fc.constantFrom(...PIPELINE_STATES),
    name: fc.constantFrom(...NAMES),
    batch: fc.option(fc.constantFrom("b1", "b2"), { nil: null }),
    tags: fc.uniqueArray(fc.constantFrom("t1", "t2", "t3"), { maxLength: 3 }),
    user: fc.option(fc.constantFrom("u1", "u2"), { nil: null }),
    resolution: fc.constantFrom("1080P", "4K"),
  });
}

describe.each(ENGINES)("job repository on %s", (engine) => {
  let t: TestRuntime;
  let jobs: Job[];
  let projectIds: string[];

  beforeAll(async () => {
    t = await openTestRuntime(engine);
    projectIds = [];
    for (let i = 0; i < PROJECTS; i++) projectIds.push((await createProject(t.runtime, `p${i}`)).id);
    const specs = fc.sample(jobArbitrary(projectIds), { numRuns: 300, seed: 42 });
    jobs = specs.map((s, i) => {
      const createTime = BASE + s.createHours * HOUR + (i % 7) * 1000;
      return {
        id: newJobId(createTime),
        projectId: projectIds[s.project] as string,
        appUserId: s.user,
        name: `${s.name} ${i % 3}`,
        description: null,
        avatarType: "2DAvatar",
        state: s.state,
        batchName: s.batch,
        tags: s.tags,
        modelVersion: "V3",
        mattingType: "AI",
        modelResolution: s.resolution,
        assetId: null,
        contact: null,
        message: null,
        createTime,
        updateTime: createTime + s.updateLag * HOUR,
        firstTrainingTime: null,
        lastTrainingTime: null,
      };
    });
    await insertJobs(t.runtime.database.db, jobs.slice(0, 150));
    await insertJobs(t.runtime.database.db, jobs.slice(150));
  });
  afterAll(async () => t?.dispose());

  it("reads the options of a job that is gone (deleted by a concurrent request) as JOB_NOT_FOUND", async () => {
    const job = jobs[0] as Job;
    expect((await findJobOptions(t.runtime.database.db, job.id)).videoMultipartCount).toBe(1);
    const missing = await findJobOptions(t.runtime.database.db, newJobId(BASE)).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DoppelError);
    expect((missing as DoppelError).code).toBe("JOB_NOT_FOUND");
  });

  it("round-trips every field", async () => {
    const page = await listJobs(
      t.runtime.database.db,
      engine,
      { projectId: projectIds[0] as string, jobId: jobs.find((j) => j.projectId === projectIds[0])?.id },
      { offset: 0, limit: 10, sortKey: "create_time", sortDir: "asc" },
    );
    const original = jobs.find((j) => j.id === page.jobs[0]?.id);
    expect(page.count).toBe(1);
    expect(page.jobs[0]).toEqual(original);
  });

  it("agrees with the reference semantics for any filter, order and page", async () => {
    const time = fc.option(fc.integer({ min: BASE - HOUR, max: BASE + 110 * HOUR }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          project: fc.integer({ min: 0, max: PROJECTS - 1 }),
          appUserId: fc.option(fc.constantFrom("u1", "u2", "nobody"), { nil: undefined }),
          states: fc.option(fc.uniqueArray(fc.constantFrom<JobState>(...ALL_STATES), { maxLength: 4 }), {
            nil: undefined,
          }),
          createSince: time,
          createUntil: time,
          updateSince: time,
          updateUntil: time,
          batchName: fc.option(fc.constantFrom("b1", "b2", "b3"), { nil: undefined }),
          tag: fc.option(fc.constantFrom("t1", "t2", "t9"), { nil: undefined }),
          nameContains: fc.option(fc.constantFrom("Ann", "ann", "o", "%", "_", "李", "Zoë 1"), {
            nil: undefined,
          }),
          modelResolution: fc.option(fc.constantFrom("1080P", "4K", "8K"), { nil: undefined }),
        }),
        fc.record({
          offset: fc.integer({ min: 0, max: 200 }),
          limit: fc.integer({ min: 1, max: 100 }),
          sortKey: fc.constantFrom("create_time" as const, "update_time" as const),
          sortDir: fc.constantFrom("asc" as const, "desc" as const),
        }),
        async ({ project, ...rest }, page) => {
          const filter: JobFilter = { projectId: projectIds[project] as string, ...rest };
          const got = await listJobs(t.runtime.database.db, engine, filter, page);
          const want = reference(jobs, filter, page);
          expect(got.count).toBe(want.count);
          expect(got.jobs.map((j) => j.id)).toEqual(want.ids);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("never returns another project's job", async () => {
    const other = jobs.find((j) => j.projectId === projectIds[1]) as Job;
    const got = await listJobs(
      t.runtime.database.db,
      engine,
      { projectId: projectIds[0] as string, jobId: other.id },
      { offset: 0, limit: 100, sortKey: "create_time", sortDir: "asc" },
    );
    expect(got).toEqual({ count: 0, jobs: [] });
  });
});
