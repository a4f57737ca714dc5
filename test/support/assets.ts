import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { newJobId } from "../../src/domain/job.js";
import { assetIdOf, assetPrefix } from "../../src/pipeline/stages/package.stage.js";
import type { Runtime } from "../../src/services/runtime.js";
import { insertAsset } from "../../src/store/asset.repository.js";
import { insertJobs } from "../../src/store/job.repository.js";
import { newJobRow } from "./pipeline.js";

export const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/**
 * A finished job of `projectId` with a published asset, as the package stage leaves one: the job in
 * JOB_SUCCESS with its asset id, the asset's record, and a small package (manifest, idle loop, one
 * crop) and preview clip in the blob store. Cheaper than training for tests about the asset APIs.
 */
export async function publishedJob(
  runtime: Runtime,
  projectId: string,
  now: number,
  name = "Published",
): Promise<{ jobId: string; assetId: string; files: Record<string, Buffer> }> {
  const jobId = newJobId(now);
  const assetId = assetIdOf(jobId);
  const job = newJobRow(projectId, now, { id: jobId, name, state: "JOB_SUCCESS", assetId });
  await insertJobs(runtime.database.db, [job]);
  const files: Record<string, Buffer> = {
    "idle.mp4": Buffer.from(`idle loop of ${jobId}`),
    "crops/000000.png": Buffer.from(`crop of ${jobId}`),
  };
  const manifest = {
    format: "doppel-avatar",
    version: 1,
    files: Object.entries(files).map(([path, bytes]) => ({
      path,
      size: bytes.length,
      sha256: sha256(bytes),
    })),
  };
  const prefix = assetPrefix(assetId);
  for (const [path, bytes] of Object.entries(files)) {
    await runtime.blobs.put(`${prefix}package/${path}`, Readable.from([bytes]));
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  await runtime.blobs.put(`${prefix}package/manifest.json`, Readable.from([manifestBytes]));
  await runtime.blobs.put(`${prefix}preview.mp4`, Readable.from([Buffer.from(`preview of ${jobId}`)]));
  await insertAsset(runtime.database.db, {
    id: assetId,
    projectId,
    jobId,
    appUserId: null,
    name,
    description: null,
    tags: [],
    assetType: "HUMAN_MODEL_2D",
    state: "ACTIVED",
    modelVersion: job.modelVersion,
    modelResolution: job.modelResolution,
    width: 256,
    height: 256,
    fps: 25,
    frameCount: 10,
    createTime: now,
    updateTime: now,
  });
  return { jobId, assetId, files: { ...files, "manifest.json": manifestBytes } };
}
