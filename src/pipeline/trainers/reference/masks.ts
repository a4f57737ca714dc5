/** The reference trainer's masks: a face mask per loop frame, rasterised here and written by ffmpeg. */
import path from "node:path";
import { Readable } from "node:stream";
import { writeImageSequence } from "../../../media/image-sequence.js";
import type { FaceTrack } from "../trainer.js";
import { type Crop, toCrop } from "./crop.js";
import { FPS } from "./input.js";
import type { LoopPoint } from "./loop-search.js";

/** Writes masks/NNNNNN.png: the convex hull of the face outline on each loop frame, in crop pixels. */
export async function writeMasks(
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
  await writeImageSequence(
    stdin,
    { pixelFormat: "gray", width: size, height: size, fps: FPS },
    path.resolve(outputDir, "masks", "%06d.png"),
    signal,
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
