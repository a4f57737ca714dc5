/**
 * Export of an avatar package (README, "Avatar package") to LiveTalking's wav2lip avatar layout
 * (github.com/lipku/LiveTalking, formerly lipku/metahuman-stream), the directory its
 * `data/avatars/<avatar_id>/` holds:
 *
 *   full_imgs/00000000.png …  the full frames of the idle video
 *   face_imgs/00000000.png …  the face of each frame, cut out of it at the box below and resized to a square
 *   coords.pkl                a pickled list with one (y1, y2, x1, x2) tuple of ints per frame
 *
 * How LiveTalking reads and uses it (`avatars/wav2lip_avatar.py` and, before it, `lipreal.py`:
 * `load_avatar`, `paste_back_frame` / `process_frames`):
 * - `coords.pkl` is `pickle.load`ed as is (`coord_list_cycle`); `full_imgs` and `face_imgs` are globbed
 *   with `*.[jpJP][pnPN]*[gG]` and sorted by `int(<file name without extension>)`, then read with
 *   `cv2.imread`. Entry i of the three lists belongs to one frame; playback walks them forwards and
 *   backwards (`mirror_index`).
 * - While speaking, frame i is `full_imgs[i]` with `full[y1:y2, x1:x2]` replaced by the model's output
 *   for `face_imgs[i]` resized to (x2 − x1)×(y2 − y1): so the face image must be exactly that region of
 *   the full frame, and 0 ≤ y1 < y2 ≤ height, 0 ≤ x1 < x2 ≤ width (numpy slicing; a negative index
 *   would wrap around).
 * - The face images go into the model unresized, so their size is the model's input: 256 for the
 *   wav2lip256 model LiveTalking ships and warms up (`app.py`: `warm_up(opt.batch_size, model, 256)`;
 *   its docs run `genavatar.py --img_size 256`), 96 for the original Wav2Lip (`genavatar.py`'s default),
 *   192 for "wav2lipls", 384 for wav2lip384.
 * - `avatars/wav2lip/genavatar.py` (earlier `wav2lip/genavatar.py`) writes the files this way: frames as
 *   `f"{count:08d}.png"`, the face box as the detector's box padded by `--pads` (top, bottom, left,
 *   right; default 0, 10, 0, 0 "to include chin at least") and clamped to the frame, the face cut out
 *   and `cv2.resize`d to `img_size`², and `coord_list.append((y1, y2, x1, x2))` pickled.
 *
 * What the package gives: idle.mp4 is the loop at the training video's full frame size, so its frames
 * are the full images. coords.json holds each frame's face box and landmarks in crop pixels; the
 * manifest's `source.crop` places the crop in the frame (x + cx · size / width, y + cy · size / height).
 * The face box exported is the package's box grown to hold the jaw line (landmarks 0–16, so the chin is
 * inside, which the model redraws), mapped to frame pixels, padded like genavatar's, widened to whole
 * pixels and clamped to the frame. The face images are cut from the decoded full frames (not from the
 * crops, which have fewer pixels of a large face) with the same interpolation as genavatar.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { allOrNothing } from "../media/all-or-nothing.js";
import { runFfmpeg } from "../media/ffmpeg.js";
import { writeImageSequence } from "../media/image-sequence.js";
import { inputUrl, probeMedia } from "../media/probe.js";
import { type AvatarFrameCoords, type AvatarManifest, verifyPackage } from "../pipeline/avatar-package.js";
import { pickleIntTuples } from "./pickle.js";
import { cropAndResize, type PixelBox } from "./resize.js";

/** Padding of the face box in frame pixels, as genavatar's `--pads` (top, bottom, left, right). */
export interface FacePads {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** genavatar.py's default `--pads 0 10 0 0`. */
export const GENAVATAR_PADS: Readonly<FacePads> = Object.freeze({ top: 0, bottom: 10, left: 0, right: 0 });

/** The face image size of LiveTalking's default wav2lip model (wav2lip256). */
export const LIVETALKING_FACE_SIZE = 256;

/** One entry of coords.pkl: (y1, y2, x1, x2), frame pixels, the face is rows y1..y2-1 and columns x1..x2-1. */
export type LiveTalkingCoord = readonly [y1: number, y2: number, x1: number, x2: number];

export interface LiveTalkingExportOptions {
  /** Side of the square face images in pixels: the model's input size (default 256, wav2lip256). */
  faceSize?: number;
  /** Padding of each face box in frame pixels (default genavatar's: 10 below). */
  pads?: FacePads;
  /** Aborting stops the ffmpeg runs and rejects; what was written is removed. */
  signal?: AbortSignal;
  /** Progress 0..1, never going back. */
  onProgress?: (fraction: number) => void;
}

export interface LiveTalkingExport {
  frameCount: number;
  /** Size of the full images (the training video's frame). */
  width: number;
  height: number;
  faceSize: number;
  /** What coords.pkl holds. */
  coords: LiveTalkingCoord[];
}

/** Sub-folders and files the export writes into its output directory. */
const FULL_IMGS = "full_imgs";
const FACE_IMGS = "face_imgs";
const COORDS = "coords.pkl";
/** The jaw line in iBUG 300-W order: ear to ear through the chin (landmark 8). */
const JAW = { first: 0, last: 16 } as const;
/** coords.json rounds to 0.01 crop pixels. */
const COORDS_PRECISION = 0.01;

/**
 * Writes the avatar package in `packageDir` (checked with `verifyPackage` first) as a LiveTalking wav2lip
 * avatar into `outDir`, which must be empty or not exist yet. On failure, nothing it wrote is left.
 */
export async function exportLiveTalking(
  packageDir: string,
  outDir: string,
  options: LiveTalkingExportOptions = {},
): Promise<LiveTalkingExport> {
  const signal = options.signal ?? new AbortController().signal;
  const faceSize = options.faceSize ?? LIVETALKING_FACE_SIZE;
  const pads = options.pads ?? GENAVATAR_PADS;
  if (!Number.isInteger(faceSize) || faceSize < 16 || faceSize > 2048) {
    throw new RangeError(`faceSize must be an integer from 16 to 2048, got ${faceSize}`);
  }
  if (!Object.values(pads).every((p) => Number.isInteger(p) && p >= 0)) {
    throw new RangeError("pads must be whole pixels, not negative");
  }
  const progress = monotonic(options.onProgress);
  progress(0);

  const report = await verifyPackage(packageDir, { signal });
  if (!report.ok) {
    throw new Error(`${packageDir} is not a valid avatar package: ${report.problems.slice(0, 5).join("; ")}`);
  }
  const manifest = JSON.parse(
    await readFile(path.join(packageDir, "manifest.json"), "utf8"),
  ) as AvatarManifest;
  const entries = JSON.parse(
    await readFile(path.join(packageDir, "coords.json"), "utf8"),
  ) as AvatarFrameCoords[];
  const idle = path.resolve(packageDir, "idle.mp4");
  const video = (await probeMedia(idle, { signal })).video;
  const { width, height } = manifest.source;
  if (video?.width !== width || video.height !== height) {
    throw new Error(
      `idle.mp4 is ${video?.width}x${video?.height}, but the manifest places the crop in a ${width}x${height} frame`,
    );
  }
  const coords = entries.map((entry) => liveTalkingCoord(entry, manifest, pads));
  progress(0.05);

  const created = await prepareOutDir(outDir);
  try {
    await mkdir(path.join(outDir, FULL_IMGS));
    await mkdir(path.join(outDir, FACE_IMGS));
    const cutter = new FaceCutter(width, height, coords, faceSize, (done) =>
      progress(0.05 + (0.9 * done) / coords.length),
    );
    await allOrNothing(signal, [
      (s) => decodeFrames(idle, path.join(outDir, FULL_IMGS), cutter, s),
      (s) =>
        writeImageSequence(
          cutter,
          { pixelFormat: "rgb24", width: faceSize, height: faceSize, fps: manifest.fps },
          path.resolve(outDir, FACE_IMGS, "%08d.png"),
          s,
        ),
    ]);
    for (const dir of [FULL_IMGS, FACE_IMGS]) {
      const count = (await readdir(path.join(outDir, dir))).length;
      if (count !== coords.length) {
        throw new Error(`ffmpeg wrote ${count} ${dir} for ${coords.length} frames`);
      }
    }
    const temporary = path.join(outDir, `${COORDS}.tmp`);
    await writeFile(temporary, pickleIntTuples(coords));
    await rename(temporary, path.join(outDir, COORDS));
  } catch (error) {
    await removeOutput(outDir, created);
    throw error;
  }
  progress(1);
  return { frameCount: coords.length, width, height, faceSize, coords };
}

/**
 * The coords.pkl entry of one coords.json entry: its box, grown to hold the jaw line, mapped from crop
 * to frame pixels, padded, widened to whole pixels and clamped to the source frame.
 */
export function liveTalkingCoord(
  entry: AvatarFrameCoords,
  manifest: Pick<AvatarManifest, "width" | "height" | "source">,
  pads: FacePads = GENAVATAR_PADS,
): LiveTalkingCoord {
  const [bx, by, bw, bh] = entry.box;
  const jaw = entry.landmarks.slice(JAW.first, JAW.last + 1);
  const xs = [bx, bx + bw, ...jaw.map((p) => p[0])];
  const ys = [by, by + bh, ...jaw.map((p) => p[1])];
  if (![...xs, ...ys].every(Number.isFinite)) {
    throw new Error(`coords.json frame ${entry.frame} has a box or landmark that is not a number`);
  }
  const { crop, width: frameWidth, height: frameHeight } = manifest.source;
  // Crop pixel c is frame pixel crop.x + c · crop.size / manifest.width (README, "Avatar package").
  const toFrameX = (cx: number) => crop.x + (cx * crop.size) / manifest.width;
  const toFrameY = (cy: number) => crop.y + (cy * crop.size) / manifest.height;
  // An edge within coords.json's rounding of a whole frame pixel counts as on it (not one pixel wider).
  const slack = (COORDS_PRECISION * crop.size) / Math.min(manifest.width, manifest.height);
  const x1 = Math.max(0, Math.floor(toFrameX(Math.min(...xs)) - pads.left + slack));
  const x2 = Math.min(frameWidth, Math.ceil(toFrameX(Math.max(...xs)) + pads.right - slack));
  const y1 = Math.max(0, Math.floor(toFrameY(Math.min(...ys)) - pads.top + slack));
  const y2 = Math.min(frameHeight, Math.ceil(toFrameY(Math.max(...ys)) + pads.bottom - slack));
  if (x2 <= x1 || y2 <= y1) {
    throw new Error(
      `coords.json frame ${entry.frame}: the face box lies outside the ${frameWidth}x${frameHeight} frame`,
    );
  }
  return [y1, y2, x1, x2];
}

/** Decodes idle.mp4 once: every frame as full_imgs/NNNNNNNN.png, and as raw RGB24 into `faces`. */
function decodeFrames(idle: string, fullDir: string, faces: FaceCutter, signal: AbortSignal): Promise<void> {
  return runFfmpeg(
    [
      "-y",
      // One image per frame of idle.mp4, none dropped or repeated: full image N must be frame N.
      "-vsync",
      "passthrough",
      "-i",
      inputUrl(idle),
      "-map",
      "0:v:0",
      "-start_number",
      "0",
      "-f",
      "image2",
      inputUrl(path.resolve(fullDir, "%08d.png")),
      "-map",
      "0:v:0",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "pipe:1",
    ],
    { signal, stdout: faces },
  );
}

/**
 * Takes decoded frames (raw RGB24, width×height, in order) and gives each one's face box resized to
 * size×size. One frame is held at a time; a full reader makes it wait (Transform backpressure).
 */
class FaceCutter extends Transform {
  private readonly frame: Buffer;
  private filled = 0;
  private done = 0;

  constructor(
    private readonly width: number,
    height: number,
    private readonly coords: readonly LiveTalkingCoord[],
    private readonly size: number,
    private readonly onFrame: (done: number) => void,
  ) {
    super();
    this.frame = Buffer.alloc(width * height * 3);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let offset = 0;
      while (offset < chunk.length) {
        const copied = chunk.copy(this.frame, this.filled, offset);
        offset += copied;
        this.filled += copied;
        if (this.filled === this.frame.length) {
          this.filled = 0;
          this.push(this.cut());
        }
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.filled !== 0 || this.done !== this.coords.length) {
      const partial = this.filled === 0 ? "" : " and part of one more";
      callback(new Error(`idle.mp4 has ${this.done} frames${partial}, the package ${this.coords.length}`));
      return;
    }
    callback();
  }

  private cut(): Buffer {
    const coord = this.coords[this.done];
    if (!coord) throw new Error(`idle.mp4 has more frames than the package's ${this.coords.length}`);
    const [y1, y2, x1, x2] = coord;
    const box: PixelBox = { x1, y1, x2, y2 };
    const face = cropAndResize(this.frame, this.width, box, this.size, this.size);
    this.onFrame(++this.done);
    return face;
  }
}

/** Creates `outDir` if needed and checks it is empty; returns the first directory it created, if any. */
async function prepareOutDir(outDir: string): Promise<string | undefined> {
  const created = await mkdir(outDir, { recursive: true });
  const present = await readdir(outDir);
  if (present.length > 0) {
    throw new Error(
      `${outDir} is not empty (${present.slice(0, 5).join(", ")}): export into a new directory`,
    );
  }
  return created;
}

async function removeOutput(outDir: string, created: string | undefined): Promise<void> {
  if (created) {
    await rm(created, { recursive: true, force: true });
    return;
  }
  for (const name of [FULL_IMGS, FACE_IMGS, COORDS, `${COORDS}.tmp`]) {
    await rm(path.join(outDir, name), { recursive: true, force: true });
  }
}

function monotonic(report: ((fraction: number) => void) | undefined): (fraction: number) => void {
  let last = -1;
  return (fraction) => {
    const value = Math.min(1, Math.max(0, fraction));
    if (!report || value <= last) return;
    last = value;
    report(value);
  };
}
