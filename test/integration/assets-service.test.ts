import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DoppelError } from "../../src/domain/errors.js";
import { assetPrefix } from "../../src/pipeline/stages/package.stage.js";
import { createProject } from "../../src/services/admin.service.js";
import {
  deleteAsset,
  listAssets,
  restoreAsset,
  showAsset,
  updateAsset,
} from "../../src/services/assets.service.js";
import type { Caller } from "../../src/services/caller.js";
import { deleteJob } from "../../src/services/jobs.service.js";
import { findAssetOfJob } from "../../src/store/asset.repository.js";
import { publishedJob, sha256 } from "../support/assets.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";

const ORIGIN = "http://doppel.test";

describe.each(ENGINES)("the assets service on %s", (engine) => {
  let t: TestRuntime;
  let caller: Caller;
  let stranger: Caller;
  beforeAll(async () => {
    t = await openTestRuntime(engine);
    const project = (await createProject(t.runtime, "assets")).id;
    const other = (await createProject(t.runtime, "other")).id;
    caller = { principal: { projectId: project, accessKeyId: null, scheme: "TOKEN" } };
    stranger = { principal: { projectId: other, accessKeyId: null, scheme: "TOKEN" } };
  });
  afterAll(() => t?.dispose());

  const published = () => publishedJob(t.runtime, caller.principal.projectId, t.clock.now);

  it("shows an asset with every file of its package, each with size, sha256 and a signed URL", async () => {
    const { assetId, files } = await published();
    const idle = files["idle.mp4"] as Buffer;
    const shown = await showAsset(t.runtime, caller, assetId, ORIGIN);
    expect(shown.files.map((f) => [f.path, f.category])).toEqual([
      ["package.tar", "MAIN"],
      ["package/manifest.json", "OTHER"],
      ["package/idle.mp4", "OTHER"],
      ["package/crops/000000.png", "COVER"],
      ["preview.mp4", "SAMPLE"],
    ]);
    const file = shown.files.find((f) => f.path === "package/idle.mp4");
    expect(file).toMatchObject({ size: idle.length, sha256: sha256(idle) });
    expect(file?.downloadUrl).toMatch(
      new RegExp(`^${ORIGIN}/downloads/assets/${assetId}/package/idle\\.mp4\\?expires=\\d+&signature=`),
    );
    await expect(showAsset(t.runtime, stranger, assetId, ORIGIN)).rejects.toMatchObject({
      code: "ASSET_NOT_FOUND",
    });
    await expect(showAsset(t.runtime, caller, "nope", ORIGIN)).rejects.toBeInstanceOf(DoppelError);
  });

  it("renames, describes and tags an asset without touching its job, and lists it under its new name", async () => {
    const { jobId, assetId } = await published();
    const updated = await updateAsset(
      t.runtime,
      caller,
      assetId,
      { name: "  Renamed  ", tags: ["a", "a", "b"] },
      ORIGIN,
    );
    expect(updated.asset).toMatchObject({ name: "Renamed", tags: ["a", "b"], jobId });
    const listed = await listAssets(
      t.runtime,
      caller,
      { nameContains: "Renamed" },
      {
        offset: 0,
        limit: 10,
        sortKey: "create_time",
        sortDir: "desc",
      },
    );
    expect(listed.assets.map((a) => a.id)).toEqual([assetId]);
    await expect(updateAsset(t.runtime, caller, assetId, { name: " " }, ORIGIN)).rejects.toMatchObject({
      code: "INVALID_PARAMETER",
    });
  });

  it("moves a deleted asset to the recycle bin, restores it, and deletes it for good with force", async () => {
    const { jobId, assetId } = await published();
    await expect(deleteAsset(t.runtime, stranger, assetId)).rejects.toMatchObject({
      code: "ASSET_NOT_FOUND",
    });
    await deleteAsset(t.runtime, caller, assetId);
    expect(await findAssetOfJob(t.runtime.database.db, jobId)).toMatchObject({ state: "DELETING" });
    expect((await showAsset(t.runtime, caller, assetId, ORIGIN)).files.length).toBe(5);
    await expect(updateAsset(t.runtime, caller, assetId, { name: "x" }, ORIGIN)).rejects.toMatchObject({
      code: "INVALID_STATE",
    });
    expect(await restoreAsset(t.runtime, caller, assetId)).toMatchObject({ state: "ACTIVED" });
    await expect(restoreAsset(t.runtime, caller, assetId)).rejects.toMatchObject({ code: "INVALID_STATE" });
    await deleteAsset(t.runtime, caller, assetId, { force: true });
    expect(await findAssetOfJob(t.runtime.database.db, jobId)).toBeUndefined();
    expect(await t.runtime.blobs.list(assetPrefix(assetId))).toEqual([]);
    await expect(showAsset(t.runtime, caller, assetId, ORIGIN)).rejects.toMatchObject({
      code: "ASSET_NOT_FOUND",
    });
  });

  it("deletes a job's asset with the job", async () => {
    const { jobId, assetId } = await published();
    await deleteJob(t.runtime, caller, jobId);
    expect(await findAssetOfJob(t.runtime.database.db, jobId)).toBeUndefined();
    expect(await t.runtime.blobs.list(assetPrefix(assetId))).toEqual([]);
  });
});
