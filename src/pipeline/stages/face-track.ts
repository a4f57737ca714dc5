import type { FaceTrack } from "../trainers/trainer.js";

/** One detection of the face on a sampled frame, in pixels of the normalised video. */
export interface FaceObservation {
  readonly timeSeconds: number;
  readonly box: readonly [number, number, number, number];
  readonly landmarks: ReadonlyArray<readonly [number, number]>;
}

/**
 * Builds the per-frame face track from detections on sampled frames: smooths the detections with a
 * centred moving average (detector jitter would otherwise shake every crop), then interpolates
 * linearly to every frame; frames before the first or after the last detection hold those. The crop is
 * one square around the median face centre, `cropScale` times the largest smoothed face side, inside
 * the frame.
 */
export function buildFaceTrack(
  observations: readonly FaceObservation[],
  video: {
    readonly fps: number;
    readonly width: number;
    readonly height: number;
    readonly frameCount: number;
  },
  options: { readonly window?: number; readonly cropScale?: number } = {},
): FaceTrack {
  if (observations.length === 0) throw new Error("no face observations to track");
  const sorted = [...observations].sort((a, b) => a.timeSeconds - b.timeSeconds);
  const smoothed = smooth(sorted, options.window ?? 5);
  const frames: Array<FaceTrack["frames"][number]> = [];
  let next = 0;
  for (let index = 0; index < video.frameCount; index++) {
    const t = index / video.fps;
    while (next < smoothed.length && (smoothed[next]?.timeSeconds ?? 0) < t) next++;
    const after = smoothed[Math.min(next, smoothed.length - 1)] as FaceObservation;
    const before = smoothed[Math.max(0, next - 1)] as FaceObservation;
    const span = after.timeSeconds - before.timeSeconds;
    const w = span > 0 ? Math.min(1, Math.max(0, (t - before.timeSeconds) / span)) : 0;
    const mix = (a: number, b: number) => round(a + (b - a) * w);
    const detected = sorted.some((o) => Math.abs(o.timeSeconds - t) < 0.5 / video.fps);
    frames.push({
      index,
      box: [
        mix(before.box[0], after.box[0]),
        mix(before.box[1], after.box[1]),
        mix(before.box[2], after.box[2]),
        mix(before.box[3], after.box[3]),
      ],
      landmarks: before.landmarks.map((p, i) => {
        const q = after.landmarks[i] ?? p;
        return [mix(p[0], q[0]), mix(p[1], q[1])] as const;
      }),
      detected,
    });
  }
  return {
    fps: video.fps,
    width: video.width,
    height: video.height,
    frameCount: video.frameCount,
    frames,
    crop: squareCrop(smoothed, video, options.cropScale ?? 1.8),
  };
}

function smooth(observations: readonly FaceObservation[], window: number): FaceObservation[] {
  const half = Math.floor(window / 2);
  return observations.map((o, i) => {
    const near = observations.slice(Math.max(0, i - half), i + half + 1);
    const avg = (pick: (o: FaceObservation) => number) =>
      near.reduce((sum, n) => sum + pick(n), 0) / near.length;
    return {
      timeSeconds: o.timeSeconds,
      box: [avg((n) => n.box[0]), avg((n) => n.box[1]), avg((n) => n.box[2]), avg((n) => n.box[3])],
      landmarks: o.landmarks.map(
        (_, k) => [avg((n) => n.landmarks[k]?.[0] ?? 0), avg((n) => n.landmarks[k]?.[1] ?? 0)] as const,
      ),
    };
  });
}

function squareCrop(
  observations: readonly FaceObservation[],
  video: { readonly width: number; readonly height: number },
  scale: number,
): FaceTrack["crop"] {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const cx = median(observations.map((o) => o.box[0] + o.box[2] / 2));
  const cy = median(observations.map((o) => o.box[1] + o.box[3] / 2));
  const side = Math.max(...observations.map((o) => Math.max(o.box[2], o.box[3])));
  // Even, and never larger than the frame: ffmpeg's crop and the encoders want even sizes.
  const size = Math.max(2, Math.floor(Math.min(side * scale, video.width, video.height) / 2) * 2);
  const x = Math.round(Math.min(Math.max(0, cx - size / 2), video.width - size));
  const y = Math.round(Math.min(Math.max(0, cy - size / 2), video.height - size));
  return { x, y, size };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
