import fc from "fast-check";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Asset } from "../../src/domain/asset.js";
import { newJobId } from "../../src/domain/job.js";
import { createProject } from "../../src/services/admin.service.js";
import {
  deleteAssetRow,
  findAsset,
  findAssetOfJob,
  insertAsset,
  listAssets,
} from "../../src/store/asset.repository.js";
import { insertJobs } from "../../src/store/job.repository.js";
import * as assetsMigration from "../../src/store/migrations/0008-assets.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";
import { newJobRow } from "../support/pipeline.js";

describe.each(ENGINES)("assets on %s", (engine) => {
  let t: TestRuntime;
  let projectId: string;
  let otherProject: string;
  beforeAll(async () => {
    t = await openTestRuntime(engine);
    projectId = (await createProject(t.runtime, "assets")).id;
    otherProject = (await createProject(t.runtime, "other")).id;
  });
  afterAll(() => t?.dispose());

  const assetOf = (jobId: string, overrides: Partial<Asset> = {}): Asset => ({
    id: newJobId(),
    projectId,
    jobId,
    appUserId: "user-1",
    name: "Anna",
    description: null,
    tags: ["a", "b"],
    assetType: "HUMAN_MODEL_2D",
    state: "ACTIVED",
    modelVersion: "V3",
    modelResolution: "1080P",
    width: 512,
    height: 512,
    fps: 25,
    frameCount: 75,
    createTime: 1_000,
    updateTime: 1_000,
    ...overrides,
  });

  it("keeps one record per published asset, found only in its project and by its end user", async () => {
    const asset = assetOf(newJobId());
    await insertAsset(t.runtime.database.db, asset);
    await insertAsset(t.runtime.database.db, { ...asset, name: "published again" });
    const db = t.runtime.database.db;
    expect(await findAsset(db, { projectId }, asset.id)).toEqual(asset);
    expect(await findAsset(db, { projectId, appUserId: "user-1" }, asset.id)).toEqual(asset);
    expect(await findAsset(db, { projectId, appUserId: "user-2" }, asset.id)).toBeUndefined();
    expect(await findAsset(db, { projectId: otherProject }, asset.id)).toBeUndefined();
    expect(await findAssetOfJob(db, asset.jobId)).toEqual(asset);
    expect(await deleteAssetRow(db, { projectId: otherProject }, asset.id)).toBe(false);
    expect(await deleteAssetRow(db, { projectId }, asset.id)).toBe(true);
    expect(await findAssetOfJob(db, asset.jobId)).toBeUndefined();
  });

  it("lists a scope's assets as a plain filter-sort-slice would, for any filter and page", async () => {
    const db = t.runtime.database.db;
    const scopeProject = (await createProject(t.runtime, "listing")).id;
    const all = Array.from({ length: 30 }, (_, i) =>
      assetOf(newJobId(), {
        projectId: scopeProject,
        appUserId: i % 3 === 0 ? "u1" : null,
        name: ["Anna", "anna", "Bob", "Annabel"][i % 4] as string,
        createTime: 1_000 + (i % 7) * 10,
        updateTime: 2_000 + (i % 5) * 10,
      }),
    );
    for (const asset of all) await insertAsset(db, asset);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          appUserId: fc.option(fc.constant("u1"), { nil: undefined }),
          nameContains: fc.option(fc.constantFrom("Ann", "ann", "b", "x"), { nil: undefined }),
          createSince: fc.option(fc.integer({ min: 990, max: 1_070 }), { nil: undefined }),
          createUntil: fc.option(fc.integer({ min: 990, max: 1_070 }), { nil: undefined }),
          states: fc.option(fc.constantFrom<string[]>(["ACTIVED"], ["FAILED"]), { nil: undefined }),
        }),
        fc.record({
          offset: fc.integer({ min: 0, max: 35 }),
          limit: fc.integer({ min: 1, max: 12 }),
          sortKey: fc.constantFrom("create_time" as const, "update_time" as const),
          sortDir: fc.constantFrom("asc" as const, "desc" as const),
        }),
        async (filter, page) => {
          const key = page.sortKey === "create_time" ? "createTime" : "updateTime";
          const sign = page.sortDir === "asc" ? 1 : -1;
          const expected = all
            .filter(
              (a) =>
                (filter.appUserId === undefined || a.appUserId === filter.appUserId) &&
                (filter.nameContains === undefined || a.name.includes(filter.nameContains)) &&
                (filter.createSince === undefined || a.createTime >= filter.createSince) &&
                (filter.createUntil === undefined || a.createTime <= filter.createUntil) &&
                (filter.states === undefined || filter.states.includes(a.state)),
            )
            .sort((a, b) => sign * (a[key] - b[key] || (a.id < b.id ? -1 : 1)));
          const listed = await listAssets(
            db,
            t.runtime.database.kind,
            { projectId: scopeProject, ...filter },
            page,
          );
          expect(listed.count).toBe(expected.length);
          expect(listed.assets.map((a) => a.id)).toEqual(
            expected.slice(page.offset, page.offset + page.limit).map((a) => a.id),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it("gives every job published before assets had a table its asset, named as the job", async () => {
    const db = t.runtime.database.db;
    const published = newJobRow(projectId, 5_000, {
      state: "JOB_SUCCESS",
      assetId: newJobId(),
      name: "Old one",
      tags: ["x"],
    });
    const unpublished = newJobRow(projectId, 6_000, { state: "TRAINING" });
    await insertJobs(db, [published, unpublished]);
    const raw = db as unknown as Kysely<unknown>;
    await assetsMigration.down(raw);
    await assetsMigration.up(raw);
    expect(await findAssetOfJob(db, published.id)).toMatchObject({
      id: published.assetId,
      projectId,
      name: "Old one",
      tags: ["x"],
      assetType: "HUMAN_MODEL_2D",
      state: "ACTIVED",
      width: null,
    });
    expect(await findAssetOfJob(db, unpublished.id)).toBeUndefined();
  });
});
