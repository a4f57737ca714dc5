import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { BlobStore } from "../../blobs/blob-store.js";
import { mapConcurrently } from "../../blobs/map-concurrently.js";
import { verifyPrefix, verifyReportKey } from "../../domain/pipeline.js";
import type { DetectedFace, RgbImage } from "../../media/faces.js";
import { writeJpegs } from "../../media/image-sequence.js";
import type { StageRun } from "../stage.js";
import { uploadContentAddressed } from "./stage-files.js";

/**
 * The images the verify stage keeps beside its report (the sampled frames of the training video, the
 * consent video's face), so that a reviewer and the user can see what the checks saw.
 */

/**
 * An image the verify stage kept (a JPEG under `verifyImageKey(jobId, name)`): `name` holds its
 * sha256, so a repeated run stores the same bytes under the same name and never others.
 */
export interface VerifyImage {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
  readonly width: number;
  readonly height: number;
}

/** A face's box in whole pixels of the image it was found on, within the image. */
export interface FaceBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A sampled frame of the training video with the faces found on it. */
export interface VerifyFrame extends VerifyImage {
  /** Where in the video it was sampled. */
  readonly timeSeconds: number;
  readonly faces: readonly { readonly box: FaceBox; readonly yawDegrees: number }[];
}

/**
 * Encodes the images as JPEGs (one ffmpeg run for images of one size) and stores each under the job's
 * verify prefix as `<stem>-<sha256>.jpg`; answers what was stored, in the order given.
 */
export async function storeVerifyImages(
  blobs: BlobStore,
  run: StageRun,
  images: ReadonlyArray<{ readonly stem: "frame" | "consent"; readonly image: RgbImage }>,
): Promise<VerifyImage[]> {
  const dir = join(run.workDir, "verify-images");
  await mkdir(dir, { recursive: true });
  const files = await writeJpegs(
    images.map((i) => i.image),
    dir,
    "image",
    run.signal,
  );
  const prefix = verifyPrefix(run.job.id);
  return mapConcurrently(
    images.map((entry, i) => ({ ...entry, file: files[i] as string })),
    4,
    async ({ stem, image, file }) => {
      const stored = await uploadContentAddressed(blobs, prefix, stem, ".jpg", file, "image/jpeg");
      return {
        name: stored.key.slice(prefix.length),
        sha256: stored.sha256,
        size: stored.size,
        width: image.width,
        height: image.height,
      };
    },
  );
}

/**
 * Removes what an earlier run left under the verify prefix besides the report and `kept`: the frames
 * of a video the user has since replaced. Call it after the report naming `kept` is stored, so the
 * report a reader finds never names an image that is gone.
 */
export async function removeUnnamedImages(
  blobs: BlobStore,
  jobId: string,
  kept: readonly VerifyImage[],
): Promise<void> {
  const prefix = verifyPrefix(jobId);
  const named = new Set([verifyReportKey(jobId), ...kept.map((image) => prefix + image.name)]);
  for (const blob of await blobs.list(prefix)) {
    if (!named.has(blob.key)) await blobs.delete(blob.key);
  }
}

/** A detected box clamped to the image and rounded to whole pixels (detectors may reach past an edge). */
export function boxWithin(box: DetectedFace["box"], image: { width: number; height: number }): FaceBox {
  const clamp = (value: number, max: number) => Math.min(max, Math.max(0, Math.round(value)));
  const x = clamp(box.x, image.width);
  const y = clamp(box.y, image.height);
  return {
    x,
    y,
    width: clamp(box.x + box.width, image.width) - x,
    height: clamp(box.y + box.height, image.height) - y,
  };
}
