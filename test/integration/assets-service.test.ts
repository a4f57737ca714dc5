import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DoppelError } from "../../src/domain/errors.js";
import { newJobId } from "../../src/domain/job.js";
import { assetIdOf, assetPrefix } from "../../src/pipeline/stages/package.stage.js";
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
import { findAssetOfJob, insertAsset } from "../../src/store/asset.repository.js";
import { insertJobs } from "../../src/store/job.repository.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";
import { newJobRow } from "../support/pipeline.js";

const ORIGIN = "http://doppel.test";
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

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

  /** A finished job with a published asset: its record and a small package in the blob store. */
  async function publishedJob(): Promise<{ jobId: string; assetId: string; idle: Buffer }> {
    const jobId = newJobId();
    const assetId = assetIdOf(jobId);
    const job = newJobRow(caller.principal.projectId, t.clock.now, {
      id: jobId,
      state: "JOB_SUCCESS",
      assetId,
    });
    await insertJobs(t.runtime.database.db, [job]);
    const idle = Buffer.from(`idle loop of ${jobId}`);
    const manifest = {
      format: "doppel-avatar",
      version: 1,
      files: [{ path: "idle.mp4", size: idle.length, sha256: sha256(idle) }],
    };
    const prefix = assetPrefix(assetId);
    await t.runtime.blobs.put(`${prefix}package/idle.mp4`, Readable.from([idle]));
    await t.runtime.blobs.put(
      `${prefix}package/manifest.json`,
      Readable.from([Buffer.from(JSON.stringify(manifest))]),
    );
    await t.runtime.blobs.put(`${prefix}preview.mp4`, Readable.from([Buffer.from("preview")]));
    await insertAsset(t.runtime.database.db, {
      id: assetId,
      projectId: job.projectId,
      jobId,
      appUserId: null,
      name: job.name,
      description: null,
      tags: [],
      assetType: "HUMAN_MODEL_2D",
      state: "ACTIVED",
      modelVersion: "V3.2",
      modelResolution: "1080P",
      width: 256,
      height: 256,
      fps: 25,
      frameCount: 10,
      createTime: t.clock.now,
      updateTime: t.clock.now,
    });
    return { jobId, assetId, idle };
  }

  it("shows an asset with every file of its package, each with size, sha256 and a signed URL", async () => {
    const { assetId, idle } = await publishedJob();
    const shown = await showAsset(t.runtime, caller, assetId, ORIGIN);
    expect(shown.files.map((f) => f.path)).toEqual([
      "package/manifest.json",
      "package/idle.mp4",
      "preview.mp4",
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
    const { jobId, assetId } = await publishedJob();
    const updated = await updateAsset(t.runtime, caller, assetId, {
      name: "  Renamed  ",
      tags: ["a", "a", "b"],
    });
    expect(updated).toMatchObject({ name: "Renamed", tags: ["a", "b"], jobId });
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
    await expect(updateAsset(t.runtime, caller, assetId, { name: " " })).rejects.toMatchObject({
      code: "INVALID_PARAMETER",
    });
  });

  it("moves a deleted asset to the recycle bin, restores it, and deletes it for good with force", async () => {
    const { jobId, assetId } = await publishedJob();
    await expect(deleteAsset(t.runtime, stranger, assetId)).rejects.toMatchObject({
      code: "ASSET_NOT_FOUND",
    });
    await deleteAsset(t.runtime, caller, assetId);
    expect(await findAssetOfJob(t.runtime.database.db, jobId)).toMatchObject({ state: "DELETING" });
    expect((await showAsset(t.runtime, caller, assetId, ORIGIN)).files.length).toBe(3);
    await expect(updateAsset(t.runtime, caller, assetId, { name: "x" })).rejects.toMatchObject({
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
    const { jobId, assetId } = await publishedJob();
    await deleteJob(t.runtime, caller, jobId);
    expect(await findAssetOfJob(t.runtime.database.db, jobId)).toBeUndefined();
    expect(await t.runtime.blobs.list(assetPrefix(assetId))).toEqual([]);
  });
});
