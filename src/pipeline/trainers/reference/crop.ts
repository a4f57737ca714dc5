/**
 * The face crop of the training video: the square in whole pixels, the ffmpeg filter chain that cuts
 * it out of frame-exact decoding, and points in its pixels.
 */
import path from "node:path";
import { inputUrl } from "../../../media/probe.js";
import type { FaceTrack } from "../trainer.js";

/** A square of the training video in whole pixels; it may stick out of the frame. */
export interface Crop {
  x: number;
  y: number;
  size: number;
}

/** The face track's crop in whole pixels: ffmpeg crops whole pixels, and coords must match the crops exactly. */
export function integerCrop(track: FaceTrack): Crop {
  return {
    x: Math.round(track.crop.x),
    y: Math.round(track.crop.y),
    size: Math.max(2, Math.round(track.crop.size)),
  };
}

/** A filter chain that cuts `crop` out of a width×height frame and scales it to out×out. */
export function cropChain(crop: Crop, width: number, height: number, out: number, scaler: string): string {
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

/**
 * ffmpeg arguments that decode `videoFile` and pass each decoded frame exactly once (no frame dropped
 * or duplicated to keep a rate) through `filter`.
 */
export function frameExactInput(videoFile: string, filter: string): string[] {
  return ["-vsync", "passthrough", "-i", inputUrl(path.resolve(videoFile)), "-filter_complex", filter];
}

/** `point` (pixels of the training video) in pixels of the size×size crop. */
export function toCrop(point: readonly [number, number], crop: Crop, size: number): [number, number] {
  const scale = size / crop.size;
  return [(point[0] - crop.x) * scale, (point[1] - crop.y) * scale];
}
