// Over 400 lines because the avatar package format and its verifier, the loop search, the encoding
// and the masks still live here together; issue 9 moves them into modules of their own.
/**
 * The built-in CPU reference trainer. It stands in for a GPU model but writes a real avatar package
 * (README, "Avatar package"): an idle loop cut from the training video at its most seamless loop point,
 * the face crop and a face mask of every loop frame, the landmarks in crop coordinates, and a manifest
 * that checksums all of it. Everything streams through ffmpeg; the loop search keeps only a sliding
 * window of tiny grayscale thumbnails in memory, so a long video costs time, not heap.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { abortReason, runFfmpeg, runFfprobeJson } from "../../media/ffmpeg.js";
import { inputUrl, probeMedia } from "../../media/probe.js";
import { walkFiles } from "../walk-files.js";
import type { FaceTrack, Trainer, TrainerRun } from "./trainer.js";

/** The `format` field of every avatar package manifest. */
export const AVATAR_PACKAGE_FORMAT = "doppel-avatar";
/** The manifest version this trainer writes and `verifyPackage` understands. */
export const AVATAR_PACKAGE_VERSION = 1;

/** `manifest.json` of an avatar package. */
export interface AvatarManifest {
  format: typeof AVATAR_PACKAGE_FORMAT;
  version: typeof AVATAR_PACKAGE_VERSION;
  trainer: string;
  createdAt: string;
  fps: number;
  /** Frames of the idle loop; also the number of crops, masks and coords entries. */
  frameCount: number;
  /** Size of the crops and masks in pixels. */
  width: number;
  height: number;
  /** The loop is source frames [startFrame, endFrame); frame endFrame is the one most like startFrame. */
  loop: { startFrame: number; endFrame: number; seamScore: number };
  /** The training video's size, and the square of it that each crop shows (source pixels). */
  source: { width: number; height: number; crop: { x: number; y: number; size: number } };
  /** Every file of the package except manifest.json, sorted by path. */
  files: Array<{ path: string; size: number; sha256: string }>;
}

/** One entry of `coords.json`: where the face is on a loop frame, in crop pixels. */
export interface AvatarFrameCoords {
  /** Index in the loop (crops/NNNNNN.png, masks/NNNNNN.png, frame NNNNNN of idle.mp4). */
  frame: number;
  /** The frame of the training video it was cut from. */
  sourceFrame: number;
  box: [number, number, number, number];
  landmarks: Array<[number, number]>;
}

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

const FPS = 25;
const LANDMARKS = 68;
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

// ---------------------------------------------------------------------------------------------------
// Input

async function readFaceTrack(file: string): Promise<FaceTrack> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "ENOENT";
    throw new Error(
      missing
        ? `the training input has no faces.json (the face track the preprocess stage writes): ${file}`
        : `could not read faces.json: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`faces.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const problem = faceTrackProblem(value);
  if (problem) throw new Error(`faces.json is not a valid face track: ${problem}`);
  return value as FaceTrack;
}

/** The first thing wrong with a parsed faces.json, or undefined when it is a usable FaceTrack. */
function faceTrackProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return "it is not an object";
  const { fps, width, height, frameCount, frames, crop } = value;
  if (fps !== FPS) return `fps is ${String(fps)}, expected ${FPS}`;
  if (!isPositiveInteger(width) || !isPositiveInteger(height))
    return "width and height must be positive integers";
  if (!isPositiveInteger(frameCount)) return "frameCount must be a positive integer";
  if (!Array.isArray(frames)) return "frames is missing";
  if (frames.length !== frameCount) return `frameCount is ${frameCount} but frames lists ${frames.length}`;
  if (!isRecord(crop) || !isFiniteNumber(crop.x) || !isFiniteNumber(crop.y) || !isFiniteNumber(crop.size)) {
    return "crop must be { x, y, size }";
  }
  if (!(crop.size >= 2)) return `crop.size is ${crop.size}`;
  if (crop.x + crop.size <= 0 || crop.y + crop.size <= 0 || crop.x >= width || crop.y >= height) {
    return "crop lies outside the video";
  }
  for (let i = 0; i < frames.length; i++) {
    const frame: unknown = frames[i];
    if (!isRecord(frame)) return `frames[${i}] is not an object`;
    if (frame.index !== i) return `frames[${i}].index is ${String(frame.index)}`;
    const box = frame.box;
    if (!Array.isArray(box) || box.length !== 4 || !box.every(isFiniteNumber)) {
      return `frames[${i}].box must be [x, y, width, height]`;
    }
    const landmarks = frame.landmarks;
    if (
      !Array.isArray(landmarks) ||
      landmarks.length !== LANDMARKS ||
      !landmarks.every((p) => Array.isArray(p) && p.length === 2 && p.every(isFiniteNumber))
    ) {
      return `frames[${i}].landmarks must be ${LANDMARKS} [x, y] points`;
    }
  }
  return undefined;
}

interface Crop {
  x: number;
  y: number;
  size: number;
}

/** The face track's crop in whole pixels: ffmpeg crops whole pixels, and coords must match the crops exactly. */
function integerCrop(track: FaceTrack): Crop {
  return {
    x: Math.round(track.crop.x),
    y: Math.round(track.crop.y),
    size: Math.max(2, Math.round(track.crop.size)),
  };
}

/** A filter chain that cuts `crop` out of a width×height frame and scales it to out×out. */
function cropChain(crop: Crop, width: number, height: number, out: number, scaler: string): string {
  // A face near the border can have a crop square that sticks out of the frame: pad with black first
  // so the crop keeps its size and position (and the coords stay true) instead of being clamped.
  const even = (n: number) => n + (n % 2);
  const left = even(Math.max(0, -crop.x));
  const top = even(Math.max(0, -crop.y));
  const right = even(Math.max(0, crop.x + crop.size - width));
  const bottom = even(Math.max(0, crop.y + crop.size - height));
  const pad =
    left || top || right || bottom
      ? `pad=${width + left + right}:${height + top + bottom}:${left}:${top}:black,`
      : "";
  return `${pad}crop=${crop.size}:${crop.size}:${crop.x + left}:${crop.y + top}:exact=1,scale=${out}:${out}:flags=${scaler}`;
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

// ---------------------------------------------------------------------------------------------------
// Loop search

/** Allowed loop lengths in frames, inclusive. */
export interface LoopBounds {
  minLength: number;
  maxLength: number;
}

/** A loop over frames [start, end): after frame end-1 playback returns to start; `score` compares start with end. */
export interface LoopPoint {
  start: number;
  end: number;
  score: number;
}

/**
 * Distance between frames `a` and `b` (a < b). Once the distance is known to reach `ceiling`, it may stop
 * early and return any value ≥ ceiling: only distances below the best so far matter.
 */
export type FrameDistance = (a: number, b: number, ceiling: number) => number;

/** Loop length bounds for a video of `frameCount` frames, clamped so at least one loop fits. */
export function loopBounds(frameCount: number, minLength: number, maxLength: number): LoopBounds {
  if (!Number.isInteger(frameCount) || frameCount < 2) {
    throw new Error(`a loop needs a video of at least 2 frames, this one has ${frameCount}`);
  }
  // The loop's last frame must be followed by one more to compare its start with.
  const max = Math.max(1, Math.min(maxLength, frameCount - 1));
  return { minLength: Math.max(1, Math.min(minLength, max)), maxLength: max };
}

/**
 * Incremental loop-point search: feed frames in order with `consider(end)`; every loop ending at that
 * frame is scored against the best so far. Only the last maxLength+1 frames are ever compared, so a
 * caller can keep just that window. Ties go to the loop found first: the earliest end, then the longest.
 */
export class LoopPointSearch {
  private bestPoint: LoopPoint | undefined;

  constructor(readonly bounds: LoopBounds) {}

  /** Scores the loops [start, end) allowed by the bounds. */
  consider(end: number, distance: FrameDistance): void {
    const first = Math.max(0, end - this.bounds.maxLength);
    const last = end - this.bounds.minLength;
    for (let start = first; start <= last; start++) {
      const ceiling = this.bestPoint?.score ?? Number.POSITIVE_INFINITY;
      const score = distance(start, end, ceiling);
      if (score < ceiling) this.bestPoint = { start, end, score };
    }
  }

  /** The best loop so far, if any frame pair was considered. */
  get best(): LoopPoint | undefined {
    return this.bestPoint;
  }
}

/** The loop [start, end) within `bounds` whose start and end frames differ least, over `frameCount` frames. */
export function findLoopPoint(frameCount: number, distance: FrameDistance, bounds: LoopBounds): LoopPoint {
  const search = new LoopPointSearch(bounds);
  for (let end = 0; end < frameCount; end++) search.consider(end, distance);
  const best = search.best;
  if (!best)
    throw new Error(`no loop of ${bounds.minLength}..${bounds.maxLength} frames fits ${frameCount} frames`);
  return best;
}

/** Thumbnail side; each thumbnail is the whole frame and the face crop side by side, gray. */
const THUMB = 32;
const THUMB_WIDTH = 2 * THUMB;
const THUMB_PIXELS = THUMB_WIDTH * THUMB;
/** Block side for the lower bound that skips most exact comparisons. */
const BLOCK = 8;
const BLOCKS_X = THUMB_WIDTH / BLOCK;
const BLOCKS = BLOCKS_X * (THUMB / BLOCK);

/**
 * A sliding window of thumbnails. The distance is the mean absolute difference in gray levels (0–255);
 * half of it is the whole frame, half the face, so neither a still background nor a still face alone
 * makes a seam look good. Before the exact per-pixel sum it checks the same sum over 8×8 block totals,
 * which can only be smaller (|Σa−Σb| ≤ Σ|a−b|): a pair whose bound already reaches the best so far is
 * skipped without touching its pixels.
 */
class ThumbnailWindow {
  readonly pixels: Uint8Array;
  private readonly blocks: Int32Array;

  constructor(readonly slots: number) {
    this.pixels = new Uint8Array(slots * THUMB_PIXELS);
    this.blocks = new Int32Array(slots * BLOCKS);
  }

  offset(frame: number): number {
    return (frame % this.slots) * THUMB_PIXELS;
  }

  /** Call once frame's pixels are in place. */
  index(frame: number): void {
    const px = this.offset(frame);
    const base = (frame % this.slots) * BLOCKS;
    this.blocks.fill(0, base, base + BLOCKS);
    for (let y = 0; y < THUMB; y++) {
      const row = px + y * THUMB_WIDTH;
      const blockRow = base + ((y / BLOCK) | 0) * BLOCKS_X;
      for (let x = 0; x < THUMB_WIDTH; x++) {
        const block = blockRow + ((x / BLOCK) | 0);
        this.blocks[block] = (this.blocks[block] as number) + (this.pixels[row + x] as number);
      }
    }
  }

  readonly distance: FrameDistance = (a, b, ceiling) => {
    const limit = ceiling * THUMB_PIXELS;
    const ba = (a % this.slots) * BLOCKS;
    const bb = (b % this.slots) * BLOCKS;
    let bound = 0;
    for (let i = 0; i < BLOCKS; i++)
      bound += Math.abs((this.blocks[ba + i] as number) - (this.blocks[bb + i] as number));
    if (bound >= limit) return bound / THUMB_PIXELS;
    const pa = this.offset(a);
    const pb = this.offset(b);
    const px = this.pixels;
    let sum = 0;
    for (let y = 0; y < THUMB; y++) {
      const ra = pa + y * THUMB_WIDTH;
      const rb = pb + y * THUMB_WIDTH;
      for (let x = 0; x < THUMB_WIDTH; x++) sum += Math.abs((px[ra + x] as number) - (px[rb + x] as number));
      if (sum >= limit) break;
    }
    return sum / THUMB_PIXELS;
  };
}

/** Decodes video.mp4 into thumbnails and runs the loop search as they arrive. */
async function searchLoop(
  videoFile: string,
  track: FaceTrack,
  crop: Crop,
  bounds: LoopBounds,
  signal: AbortSignal,
  onProgress: (fraction: number) => void,
): Promise<{ best: LoopPoint; naive: number | undefined }> {
  const window = new ThumbnailWindow(bounds.maxLength + 1);
  const search = new LoopPointSearch(bounds);
  const expected = track.frameCount;
  let frames = 0;
  let filled = 0;
  let naive: number | undefined;
  const step = Math.max(1, Math.floor(expected / 50));

  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        let at = 0;
        while (at < chunk.length) {
          const take = Math.min(THUMB_PIXELS - filled, chunk.length - at);
          // Frames beyond the face track are only counted: the mismatch is reported once decoding ends.
          if (frames < expected)
            window.pixels.set(chunk.subarray(at, at + take), window.offset(frames) + filled);
          filled += take;
          at += take;
          if (filled === THUMB_PIXELS) {
            if (frames < expected) {
              window.index(frames);
              search.consider(frames, window.distance);
              if (frames === bounds.maxLength) naive = window.distance(0, frames, Number.POSITIVE_INFINITY);
              if (frames % step === 0) onProgress(frames / expected);
            }
            frames++;
            filled = 0;
          }
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });

  const filter =
    `[0:v]split=2[w][f];[w]scale=${THUMB}:${THUMB}:flags=area,format=gray[ws];` +
    `[f]${cropChain(crop, track.width, track.height, THUMB, "area")},format=gray[fs];` +
    "[ws][fs]hstack=inputs=2[out]";
  await runFfmpeg(
    [
      // Every decoded frame exactly once: the thumbnail index must be the frame index of faces.json.
      "-vsync",
      "passthrough",
      "-i",
      inputUrl(path.resolve(videoFile)),
      "-filter_complex",
      filter,
      "-map",
      "[out]",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "gray",
      "pipe:1",
    ],
    { signal, stdout: sink },
  );
  if (frames !== expected) {
    throw new Error(
      `video.mp4 has ${frames} frames but faces.json describes ${expected}; the face track must come from this video`,
    );
  }
  const best = search.best;
  if (!best) throw new Error(`no loop fits a video of ${expected} frames`);
  onProgress(1);
  return { best, naive };
}

// ---------------------------------------------------------------------------------------------------
// Package contents

async function encodeLoop(
  videoFile: string,
  outputDir: string,
  loop: LoopPoint,
  track: FaceTrack,
  crop: Crop,
  settings: Settings,
  signal: AbortSignal,
  onProgress: (seconds: number) => void,
): Promise<void> {
  const size = settings.cropSize;
  const filter =
    `[0:v]trim=start_frame=${loop.start}:end_frame=${loop.end},setpts=PTS-STARTPTS,split=2[v][c];` +
    `[c]${cropChain(crop, track.width, track.height, size, "bicubic")},format=rgb24[crops]`;
  await runFfmpeg(
    [
      "-y",
      // One output frame per loop frame, in both outputs: crop N must be frame N of idle.mp4.
      "-vsync",
      "passthrough",
      "-i",
      inputUrl(path.resolve(videoFile)),
      "-filter_complex",
      filter,
      "-map",
      "[v]",
      "-an",
      "-c:v",
      "libx264",
      "-preset",
      settings.preset,
      "-crf",
      String(settings.crf),
      "-pix_fmt",
      "yuv420p",
      // A keyframe every second lets a renderer start the loop anywhere without decoding from its start.
      "-g",
      String(FPS),
      "-movflags",
      "+faststart",
      inputUrl(path.resolve(outputDir, "idle.mp4")),
      "-map",
      "[crops]",
      "-start_number",
      "0",
      "-f",
      "image2",
      inputUrl(path.resolve(outputDir, "crops", "%06d.png")),
    ],
    { signal, onProgress },
  );
}

async function writeMasks(
  outputDir: string,
  loop: LoopPoint,
  track: FaceTrack,
  crop: Crop,
  size: number,
  signal: AbortSignal,
): Promise<void> {
  function* frames(): Generator<Buffer> {
    for (let i = loop.start; i < loop.end; i++) {
      const frame = track.frames[i];
      if (!frame) throw new Error(`faces.json has no frame ${i}`);
      const outline = frame.landmarks.slice(0, 27).map((p) => toCrop(p, crop, size));
      yield faceMask(outline, size);
    }
  }
  // Pulled one frame at a time, so the masks never pile up in memory when ffmpeg is busy.
  const stdin = Readable.from(frames(), { objectMode: false });
  await runFfmpeg(
    [
      "-y",
      "-vsync",
      "passthrough",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "gray",
      "-s",
      `${size}x${size}`,
      "-framerate",
      String(FPS),
      "-i",
      "pipe:0",
      "-start_number",
      "0",
      "-f",
      "image2",
      inputUrl(path.resolve(outputDir, "masks", "%06d.png")),
    ],
    { signal, stdin },
  );
}

/** A size×size gray mask: 255 inside the convex hull of `points` (crop pixels), 0 outside. */
export function faceMask(points: ReadonlyArray<readonly [number, number]>, size: number): Buffer {
  const mask = Buffer.alloc(size * size);
  const hull = convexHull(points);
  if (hull.length < 3) return mask;
  for (let y = 0; y < size; y++) {
    // Sample at the pixel's centre; a convex polygon crosses each row at most twice.
    const cy = y + 0.5;
    let left = Number.POSITIVE_INFINITY;
    let right = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < hull.length; i++) {
      const [x0, y0] = hull[i] as [number, number];
      const [x1, y1] = hull[(i + 1) % hull.length] as [number, number];
      if (y0 === y1 || cy < Math.min(y0, y1) || cy > Math.max(y0, y1)) continue;
      const x = x0 + ((cy - y0) * (x1 - x0)) / (y1 - y0);
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
    if (left > right) continue;
    const from = Math.max(0, Math.ceil(left - 0.5));
    const to = Math.min(size - 1, Math.floor(right - 0.5));
    if (from <= to) mask.fill(255, y * size + from, y * size + to + 1);
  }
  return mask;
}

/** Convex hull (Andrew's monotone chain), counter-clockwise, without collinear points. */
function convexHull(points: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const sorted = points.map((p): [number, number] => [p[0], p[1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (sorted.length < 3) return sorted;
  const cross = (o: [number, number], a: [number, number], b: [number, number]) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list: Array<[number, number]>) => {
    const chain: Array<[number, number]> = [];
    for (const p of list) {
      while (
        chain.length >= 2 &&
        cross(chain[chain.length - 2] as [number, number], chain[chain.length - 1] as [number, number], p) <=
          0
      ) {
        chain.pop();
      }
      chain.push(p);
    }
    chain.pop();
    return chain;
  };
  return [...half(sorted), ...half([...sorted].reverse())];
}

function toCrop(point: readonly [number, number], crop: Crop, size: number): [number, number] {
  const scale = size / crop.size;
  return [(point[0] - crop.x) * scale, (point[1] - crop.y) * scale];
}

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
// Checksums and verification

/** Every file under `dir` except manifest.json, as relative POSIX paths, sorted. */
async function listFiles(dir: string): Promise<{ files: string[]; odd: string[] }> {
  const files: string[] = [];
  const odd: string[] = [];
  for (const entry of await walkFiles(dir)) {
    if (!entry.isFile) odd.push(entry.path);
    else if (entry.path !== "manifest.json") files.push(entry.path);
  }
  return { files: files.sort(), odd: odd.sort() };
}

async function sha256(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function describeFiles(
  dir: string,
  signal: AbortSignal,
  onProgress: (fraction: number) => void,
): Promise<AvatarManifest["files"]> {
  const { files } = await listFiles(dir);
  const described: AvatarManifest["files"] = new Array(files.length);
  let next = 0;
  let done = 0;
  // A few reads in flight: hundreds of small PNGs are latency-bound, not bandwidth-bound.
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const relative = files[i] as string;
      const absolute = path.join(dir, relative);
      const { size } = await stat(absolute);
      described[i] = { path: relative, size, sha256: await sha256(absolute, signal) };
      onProgress(++done / files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, files.length) }, worker));
  return described;
}

/** Checks an avatar package against its manifest: files, sizes, checksums, image sizes and frame counts. */
export async function verifyPackage(
  dir: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  const result = () => ({ ok: problems.length === 0, problems });
  let manifest: AvatarManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as AvatarManifest;
  } catch (error) {
    problems.push(`manifest.json is missing or not JSON: ${(error as Error).message}`);
    return result();
  }
  if (!isRecord(manifest) || manifest.format !== AVATAR_PACKAGE_FORMAT) {
    problems.push(`manifest.json is not a ${AVATAR_PACKAGE_FORMAT} manifest`);
    return result();
  }
  if (manifest.version !== AVATAR_PACKAGE_VERSION) {
    problems.push(`manifest version ${String(manifest.version)} is not ${AVATAR_PACKAGE_VERSION}`);
    return result();
  }
  if (!Array.isArray(manifest.files)) {
    problems.push("manifest.json has no files list");
    return result();
  }

  const listed = new Map<string, AvatarManifest["files"][number]>();
  for (const entry of manifest.files) {
    const p = isRecord(entry) ? entry.path : undefined;
    // A path that escapes the package could make a consumer read or overwrite anything.
    if (typeof p !== "string" || !isSafeRelativePath(p) || p === "manifest.json") {
      problems.push(`manifest lists an invalid path: ${JSON.stringify(p)}`);
      continue;
    }
    if (listed.has(p)) problems.push(`manifest lists ${p} twice`);
    listed.set(p, entry);
  }

  for (const [relative, entry] of listed) {
    const absolute = path.join(dir, relative);
    const stats = await stat(absolute).catch(() => undefined);
    if (!stats?.isFile()) {
      problems.push(`${relative} is listed but missing`);
      continue;
    }
    if (stats.size !== entry.size) {
      problems.push(`${relative} has ${stats.size} bytes, the manifest says ${entry.size}`);
      continue;
    }
    if ((await sha256(absolute, options.signal)) !== entry.sha256) {
      problems.push(`${relative} does not match its sha256`);
    }
  }
  const present = await listFiles(dir);
  for (const relative of present.files) if (!listed.has(relative)) problems.push(`${relative} is not listed`);
  for (const relative of present.odd) problems.push(`${relative} is not a regular file`);

  // Counted on disk, not in the manifest: a renderer sees what is there.
  await checkFrames(dir, manifest, present.files, problems, options.signal);
  return result();
}

async function checkFrames(
  dir: string,
  manifest: AvatarManifest,
  paths: string[],
  problems: string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const { frameCount, width, height, loop } = manifest;
  if (!isPositiveInteger(frameCount)) {
    problems.push("manifest frameCount is not a positive integer");
    return;
  }
  if (!isRecord(loop) || loop.endFrame - loop.startFrame !== frameCount) {
    problems.push(`manifest loop does not span frameCount (${frameCount}) frames`);
  }
  for (const folder of ["crops", "masks"]) {
    const images = paths.filter((p) => p.startsWith(`${folder}/`)).sort();
    if (images.length !== frameCount) {
      problems.push(`${folder} has ${images.length} images for ${frameCount} frames`);
    }
    for (let i = 0; i < images.length; i++) {
      const expected = `${folder}/${String(i).padStart(6, "0")}.png`;
      if (images[i] !== expected) {
        problems.push(`${folder} is not numbered 000000.png onwards (found ${images[i]})`);
        break;
      }
    }
    for (const image of images) {
      const size = await pngSize(path.join(dir, image));
      if (!size || size.width !== width || size.height !== height) {
        problems.push(`${image} is not a ${width}x${height} PNG`);
        break;
      }
    }
  }
  try {
    const coords: unknown = JSON.parse(await readFile(path.join(dir, "coords.json"), "utf8"));
    if (!Array.isArray(coords) || coords.length !== frameCount) {
      problems.push(`coords.json does not have ${frameCount} entries`);
    } else if (!coords.every((c, i) => isRecord(c) && c.frame === i && Array.isArray(c.landmarks))) {
      problems.push("coords.json entries are not frames 0.. in order with landmarks");
    }
  } catch (error) {
    problems.push(`coords.json is unreadable: ${(error as Error).message}`);
  }
  try {
    const answer = (await runFfprobeJson(
      [
        "-select_streams",
        "v:0",
        "-count_packets",
        "-show_entries",
        "stream=codec_name,nb_read_packets",
        inputUrl(path.resolve(dir, "idle.mp4")),
      ],
      signal,
    )) as { streams?: Array<{ codec_name?: string; nb_read_packets?: string }> };
    const stream = answer.streams?.[0];
    const packets = Number(stream?.nb_read_packets);
    if (stream?.codec_name !== "h264") problems.push("idle.mp4 is not H.264");
    if (packets !== frameCount)
      problems.push(`idle.mp4 has ${packets} frames, the manifest says ${frameCount}`);
  } catch (error) {
    if (signal?.aborted) throw abortReason(signal);
    problems.push(`idle.mp4 is not a readable video: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Width and height from a PNG's IHDR chunk, or undefined when the file is not a PNG. */
async function pngSize(file: string): Promise<{ width: number; height: number } | undefined> {
  const handle = await open(file, "r").catch(() => undefined);
  if (!handle) return undefined;
  try {
    const head = Buffer.alloc(24);
    const { bytesRead } = await handle.read(head, 0, 24, 0);
    const signature = "89504e470d0a1a0a";
    if (bytesRead < 24 || head.subarray(0, 8).toString("hex") !== signature) return undefined;
    if (head.subarray(12, 16).toString("latin1") !== "IHDR") return undefined;
    return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Runs tasks side by side; the first failure aborts the others, and all are awaited (no orphan ffmpeg). */
async function allOrNothing(
  signal: AbortSignal,
  tasks: ReadonlyArray<(signal: AbortSignal) => Promise<void>>,
): Promise<void> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(abortReason(signal));
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  let failure: { error: unknown } | undefined;
  try {
    await Promise.all(
      tasks.map((task) =>
        task(controller.signal).catch((error: unknown) => {
          failure ??= { error };
          controller.abort(error);
        }),
      ),
    );
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (failure) throw failure.error;
}

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

function isSafeRelativePath(p: string): boolean {
  return (
    p.length > 0 &&
    !p.startsWith("/") &&
    !p.includes("\\") &&
    !p.includes("\0") &&
    p.split("/").every((part) => part !== "" && part !== "." && part !== "..")
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
