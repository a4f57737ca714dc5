/**
 * The built-in CPU reference trainer. It stands in for a GPU model but writes a real avatar package
 * (README, "Avatar package"): an idle loop cut from the training video at its most seamless loop point,
 * the face crop and a face mask of every loop frame, the landmarks in crop coordinates, and a manifest
 * that checksums all of it. Everything streams through ffmpeg; the loop search keeps only a sliding
 * window of tiny grayscale thumbnails in memory, so a long video costs time, not heap.
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { allOrNothing } from "../../media/all-or-nothing.js";
import { abortReason } from "../../media/ffmpeg.js";
import { probeMedia } from "../../media/probe.js";
import {
  AVATAR_PACKAGE_FORMAT,
  AVATAR_PACKAGE_VERSION,
  type AvatarFrameCoords,
  type AvatarManifest,
  describeFiles,
} from "../avatar-package.js";
import { type Crop, integerCrop, toCrop } from "./reference/crop.js";
import { encodeLoop } from "./reference/encode-loop.js";
import { FPS, readFaceTrack } from "./reference/input.js";
import { type LoopPoint, loopBounds, searchLoop } from "./reference/loop-search.js";
import { writeMasks } from "./reference/masks.js";
import type { FaceTrack, Trainer, TrainerRun } from "./trainer.js";

/** Tuning of the reference trainer; the defaults suit a talking-head video of a few seconds to minutes. */
export interface ReferenceTrainerOptions {
  /** Shortest idle loop in seconds (default 3), clamped to what the video has. */
  minLoopSeconds?: number;
  /** Longest idle loop in seconds (default 10), clamped to what the video has. */
  maxLoopSeconds?: number;
  /** Side of the square crops and masks in pixels (default 256). */
  cropSize?: number;
  /** x264 constant rate factor of idle.mp4 (default 18: visually lossless, the renderer composites onto it). */
  crf?: number;
  /** x264 preset of idle.mp4 (default "veryfast"). */
  preset?: string;
  /** Clock of `createdAt` (tests pin it). */
  now?: () => Date;
}

/** Files and directories the trainer writes; anything else in the output directory is not its to touch. */
const PACKAGE_ENTRIES = ["manifest.json", "manifest.json.tmp", "idle.mp4", "coords.json", "crops", "masks"];

/** Creates the reference trainer with `options`. */
export function createReferenceTrainer(options: ReferenceTrainerOptions = {}): Trainer {
  const settings = {
    minLoopSeconds: options.minLoopSeconds ?? 3,
    maxLoopSeconds: options.maxLoopSeconds ?? 10,
    cropSize: options.cropSize ?? 256,
    crf: options.crf ?? 18,
    preset: options.preset ?? "veryfast",
    now: options.now ?? (() => new Date()),
  };
  if (!(settings.minLoopSeconds > 0 && settings.maxLoopSeconds >= settings.minLoopSeconds)) {
    throw new Error("reference trainer: need 0 < minLoopSeconds <= maxLoopSeconds");
  }
  if (!Number.isInteger(settings.cropSize) || settings.cropSize < 16 || settings.cropSize % 2 !== 0) {
    throw new Error("reference trainer: cropSize must be an even integer of at least 16");
  }
  return { name: "reference", train: (run) => train(run, settings) };
}

/** The reference trainer with default settings. */
export const referenceTrainer: Trainer = createReferenceTrainer();

type Settings = Required<ReferenceTrainerOptions>;

async function train(run: TrainerRun, settings: Settings): Promise<void> {
  const { signal, inputDir, outputDir } = run;
  const started = Date.now();
  const progress = monotonic(run.progress);
  checkAborted(signal);
  progress(0);

  const track = await readFaceTrack(path.join(inputDir, "faces.json"));
  const videoFile = path.join(inputDir, "video.mp4");
  await stat(videoFile).catch((error: unknown) => {
    throw new Error(`the training input has no video.mp4 (${videoFile})`, { cause: error });
  });
  const probe = await probeMedia(videoFile, { signal });
  const video = probe.video;
  if (!video) throw new Error("video.mp4 has no video stream");
  if (video.width !== track.width || video.height !== track.height) {
    throw new Error(
      `faces.json describes a ${track.width}x${track.height} video but video.mp4 is ${video.width}x${video.height}`,
    );
  }
  if (Math.abs(video.fps - FPS) > 0.01) {
    throw new Error(`video.mp4 runs at ${video.fps} fps; the preprocess stage must normalise it to ${FPS}`);
  }
  const crop = integerCrop(track);
  progress(0.02);

  await prepareOutputDir(outputDir);
  run.log(
    `reference trainer: ${track.frameCount} frames of ${track.width}x${track.height}, ` +
      `face crop ${crop.size}px at ${crop.x},${crop.y}`,
  );

  // 1. Loop search, streamed: tiny thumbnails of every frame, compared within a sliding window.
  const bounds = loopBounds(
    track.frameCount,
    Math.round(settings.minLoopSeconds * FPS),
    Math.round(settings.maxLoopSeconds * FPS),
  );
  const search = await searchLoop(videoFile, track, crop, bounds, signal, (f) => progress(0.02 + 0.43 * f));
  const loop = search.best;
  const frameCount = loop.end - loop.start;
  run.log(
    `idle loop: frames ${loop.start}..${loop.end - 1} (${(frameCount / FPS).toFixed(2)} s), seam difference ` +
      `${loop.score.toFixed(2)}` +
      (search.naive === undefined
        ? ""
        : ` (the first ${bounds.maxLength} frames would give ${search.naive.toFixed(2)})`),
  );
  progress(0.45);

  // 2. idle.mp4 + crops (one decode) and the masks (generated here), side by side.
  await mkdir(path.join(outputDir, "crops"), { recursive: true });
  await mkdir(path.join(outputDir, "masks"), { recursive: true });
  await allOrNothing(signal, [
    (s) =>
      encodeLoop(videoFile, outputDir, loop, track, crop, settings, s, (seconds) =>
        progress(0.45 + 0.45 * Math.min(1, seconds / (frameCount / FPS))),
      ),
    (s) => writeMasks(outputDir, loop, track, crop, settings.cropSize, s),
  ]);
  checkAborted(signal);
  for (const dir of ["crops", "masks"]) {
    const count = (await readdir(path.join(outputDir, dir))).length;
    if (count !== frameCount) {
      throw new Error(`ffmpeg wrote ${count} ${dir} for a loop of ${frameCount} frames`);
    }
  }
  progress(0.9);

  // 3. coords.json, then the manifest last: its presence marks a complete package.
  const coords = loopCoords(loop, track, crop, settings.cropSize);
  await writeFile(path.join(outputDir, "coords.json"), `${JSON.stringify(coords)}\n`);
  const files = await describeFiles(outputDir, signal, (f) => progress(0.9 + 0.09 * f));
  const manifest: AvatarManifest = {
    format: AVATAR_PACKAGE_FORMAT,
    version: AVATAR_PACKAGE_VERSION,
    trainer: "reference",
    createdAt: settings.now().toISOString(),
    fps: FPS,
    frameCount,
    width: settings.cropSize,
    height: settings.cropSize,
    loop: { startFrame: loop.start, endFrame: loop.end, seamScore: round(loop.score, 4) },
    source: { width: track.width, height: track.height, crop },
    files,
  };
  const temporary = path.join(outputDir, "manifest.json.tmp");
  await writeFile(temporary, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(temporary, path.join(outputDir, "manifest.json"));
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  run.log(
    `avatar package: ${files.length} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB, ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  progress(1);
}

async function prepareOutputDir(outputDir: string): Promise<void> {
  await mkdir(outputDir, { recursive: true });
  // Idempotent: a retried task starts from scratch, so a crop left by an aborted run cannot slip in.
  await Promise.all(
    PACKAGE_ENTRIES.map((name) => rm(path.join(outputDir, name), { recursive: true, force: true })),
  );
  // Foreign files would end up beside the package but outside its manifest (verifyPackage rejects
  // that); deleting them is not this trainer's call, so it stops and says so.
  const foreign = await readdir(outputDir);
  if (foreign.length > 0) {
    throw new Error(
      `the output directory ${outputDir} holds files that are not part of an avatar package: ` +
        foreign.slice(0, 5).join(", "),
    );
  }
}

/** coords.json: the face's box and landmarks on every loop frame, in crop pixels. */
function loopCoords(loop: LoopPoint, track: FaceTrack, crop: Crop, size: number): AvatarFrameCoords[] {
  const scale = size / crop.size;
  const coords: AvatarFrameCoords[] = [];
  for (let i = loop.start; i < loop.end; i++) {
    const frame = track.frames[i];
    if (!frame) throw new Error(`faces.json has no frame ${i}`);
    const [x, y, w, h] = frame.box;
    const [bx, by] = toCrop([x, y], crop, size);
    coords.push({
      frame: i - loop.start,
      sourceFrame: i,
      box: [round(bx, 2), round(by, 2), round(w * scale, 2), round(h * scale, 2)],
      landmarks: frame.landmarks.map((p) => {
        const [px, py] = toCrop(p, crop, size);
        return [round(px, 2), round(py, 2)];
      }),
    });
  }
  return coords;
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Progress that never goes back and never leaves 0..1, whatever the phases report. */
function monotonic(report: (fraction: number) => void): (fraction: number) => void {
  let last = -1;
  return (fraction) => {
    const value = Math.min(1, Math.max(0, fraction));
    if (value <= last) return;
    last = value;
    report(value);
  };
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortReason(signal);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
