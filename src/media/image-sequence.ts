import path from "node:path";
import type { Readable } from "node:stream";
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

/**
 * Writes every frame `stdin` carries (raw, as `format` says) as one PNG, numbered from 0 through
 * `pattern` (an absolute path with a printf field, e.g. `/out/%06d.png`); no frame dropped or repeated.
 */
export function writeImageSequence(
  stdin: Readable,
  format: RawFrames,
  pattern: string,
  signal: AbortSignal,
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
      "-start_number",
      "0",
      "-f",
      "image2",
      inputUrl(path.resolve(pattern)),
    ],
    { signal, stdin },
  );
}
