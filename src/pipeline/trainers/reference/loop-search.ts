/**
 * The reference trainer's loop search: the idle loop is the span of the training video whose first
 * frame and the frame after its last differ least, so playback can wrap around without a visible seam.
 * Streamed: only a sliding window of tiny grayscale thumbnails is held in memory.
 */
import { Writable } from "node:stream";
import { runFfmpeg } from "../../../media/ffmpeg.js";
import type { FaceTrack } from "../trainer.js";
import { type Crop, cropChain, frameExactInput } from "./crop.js";

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
export async function searchLoop(
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
      ...frameExactInput(videoFile, filter),
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
