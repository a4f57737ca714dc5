import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { runFfmpeg } from "../../media/ffmpeg.js";
import { type AvatarManifest, verifyPackage } from "../avatar-package.js";
import { StageFailure, type StageHandler } from "../stage.js";
import { downloadPrefix, fileDirectoryClashes, uploadDirectory, uploadFile } from "./stage-files.js";
import { trainedPackagePrefix } from "./train.stage.js";

/**
 * A job's asset id: derived from the job id, so a packaging run repeated after a crash names (and
 * overwrites) the same asset instead of leaving a second one behind.
 */
export function assetIdOf(jobId: string): string {
  return createHash("sha256").update(`doppel-asset:${jobId}`).digest("hex").slice(0, 32);
}

export function assetPrefix(assetId: string): string {
  return `assets/${assetId}/`;
}

/** Length of the preview clip, in seconds. */
const PREVIEW_SECONDS = 3;

/**
 * INFERENCE_DATA_PREPROCESSING: checks the trained package against its manifest, publishes it as the
 * job's asset (`assets/<asset_id>/package/…`) with a short preview clip of its idle loop, and gives
 * the job its asset id.
 */
export function packageStage(): StageHandler {
  return async (ctx, run) => {
    const dir = join(run.workDir, "package");
    await mkdir(dir, { recursive: true });
    const prefix = trainedPackagePrefix(run.job.id);
    const listed = (await ctx.blobs.list(prefix)).map((blob) => blob.key.slice(prefix.length));
    if (listed.length === 0)
      throw new StageFailure("DOPPEL.PACKAGE_MISSING", "The trainer left no package for this job");
    // A trainer's uploads could name `a` and `a/b`; no retry can unpack that, so say so at once.
    const clashes = fileDirectoryClashes(listed);
    if (clashes.length > 0) {
      throw new StageFailure(
        "DOPPEL.PACKAGE_INVALID",
        `The trained package uses ${clashes.map((c) => JSON.stringify(c)).join(", ")} both as a file and as a directory`,
        [
          "The trainer produced a package no file system can hold; ask the operator to check the trainer and retry training",
        ],
      );
    }
    await downloadPrefix(ctx.blobs, prefix, dir, run.signal);
    const check = await verifyPackage(dir);
    if (!check.ok) {
      throw new StageFailure(
        "DOPPEL.PACKAGE_INVALID",
        `The trained package does not match its manifest: ${check.problems.slice(0, 5).join("; ")}`,
        ["The trainer produced a damaged package; ask the operator to check the trainer and retry training"],
      );
    }
    run.progress(0.3);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as AvatarManifest;
    const assetId = assetIdOf(run.job.id);
    const preview = join(run.workDir, "preview.mp4");
    await runFfmpeg(
      [
        "-i",
        join(dir, "idle.mp4"),
        "-t",
        String(PREVIEW_SECONDS),
        "-vf",
        "scale=360:-2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        "-an",
        "-y",
        preview,
      ],
      { signal: run.signal },
    );
    run.progress(0.6);
    const asset = assetPrefix(assetId);
    await ctx.blobs.deletePrefix(asset);
    const stored = await uploadDirectory(ctx.blobs, dir, `${asset}package/`);
    await uploadFile(ctx.blobs, `${asset}preview.mp4`, preview, "video/mp4");
    run.progress(1);
    return {
      published: {
        assetId,
        // The avatar's frame: the loop plays at the training video's size (the crops are the face only).
        width: manifest.source.width,
        height: manifest.source.height,
        fps: manifest.fps,
        frameCount: manifest.frameCount,
      },
      description: `Asset ${assetId} published: ${stored.files} files, ${stored.bytes} bytes, with a ${PREVIEW_SECONDS} s preview`,
    };
  };
}
