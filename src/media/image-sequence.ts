import path from "node:path";
import { Readable } from "node:stream";
import type { RgbImage } from "./faces.js";
import { runFfmpeg } from "./ffmpeg.js";
import { inputUrl } from "./probe.js";

/** The frames of a raw video stream: packed pixels, one frame after the other, no header. */
export interface RawFrames {
  /** ffmpeg's name of the pixel layout: `gray`, `rgb24`, … */
  pixelFormat: string;
  width: number;
  height: number;
  fps: number;
}

/** Options of `writeImageSequence`. */
export interface ImageSequenceOptions {
  /** The number of the first file (default 0). */
  readonly startNumber?: number;
  /** Encoder options for every image, e.g. `["-q:v", "3"]` for JPEG quality. */
  readonly encoderArgs?: readonly string[];
}

/**
 * Writes every frame `stdin` carries (raw, as `format` says) as one image, numbered from 0 (or
 * `startNumber`) through `pattern` (an absolute path with a printf field, e.g. `/out/%06d.png`; its
 * extension picks the format); no frame dropped or repeated.
 */
export function writeImageSequence(
  stdin: Readable,
  format: RawFrames,
  pattern: string,
  signal: AbortSignal | undefined,
  options: ImageSequenceOptions = {},
): Promise<void> {
  return runFfmpeg(
    [
      "-y",
      "-vsync",
      "passthrough",
      "-f",
      "rawvideo",
      "-pix_fmt",
      format.pixelFormat,
      "-s",
      `${format.width}x${format.height}`,
      "-framerate",
      String(format.fps),
      "-i",
      "pipe:0",
      ...(options.encoderArgs ?? []),
      "-start_number",
      String(options.startNumber ?? 0),
      "-f",
      "image2",
      inputUrl(path.resolve(pattern)),
    ],
    { signal, stdin },
  );
}

/** ffmpeg's JPEG quality scale (2 best … 31): a face can be judged, a 640-px frame is ~30 KB. */
const JPEG_QUALITY = "3";

/**
 * Writes packed RGB24 images as JPEG files `<prefix>-NNN.jpg` in `dir`, numbered from 0 in order, and
 * answers their paths. Images of one size go through ffmpeg together, as one raw video stream: the
 * samples of a video share one size, so they take one run (a stream that changes size takes one run
 * per stretch of a size).
 */
export async function writeJpegs(
  images: readonly RgbImage[],
  dir: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const pattern = path.resolve(dir, `${prefix}-%03d.jpg`);
  let start = 0;
  while (start < images.length) {
    const first = images[start] as RgbImage;
    let end = start + 1;
    while (end < images.length && sameSize(images[end] as RgbImage, first)) end++;
    const stretch = images
      .slice(start, end)
      .map((i) => Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength));
    await writeImageSequence(
      Readable.from(stretch),
      { pixelFormat: "rgb24", width: first.width, height: first.height, fps: 1 },
      pattern,
      signal,
      { startNumber: start, encoderArgs: ["-q:v", JPEG_QUALITY] },
    );
    start = end;
  }
  return images.map((_, i) => path.resolve(dir, `${prefix}-${String(i).padStart(3, "0")}.jpg`));
}

function sameSize(a: RgbImage, b: RgbImage): boolean {
  return a.width === b.width && a.height === b.height;
}
