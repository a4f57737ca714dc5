/**
 * A Trainer turns preprocessed training data into an avatar package. Built in: the CPU reference
 * trainer (reference.trainer.ts). Others join from outside: a local program (`--trainer-command`) or
 * a remote worker speaking the worker protocol over HTTP.
 *
 * Input directory (written by the preprocess stage):
 *   video.mp4   the training video normalised to 25 fps H.264 (yuv420p), no audio
 *   audio.wav   its audio, 16 kHz mono PCM
 *   faces.json  FaceTrack (below): the face's box and 68 landmarks on every frame, smoothed
 *   face.mp4    the square crop FaceTrack.crop of video.mp4, scaled to 512×512, 25 fps H.264
 *   cover.jpg   the best frontal frame
 * Output directory: the avatar package (its layout is documented in the README, "Avatar package").
 */
export interface TrainerRun {
  readonly inputDir: string;
  readonly outputDir: string;
  /** Aborted when the task must stop (worker stopping, lease lost): stop soon, leave no process behind. */
  readonly signal: AbortSignal;
  /** Progress 0..1. */
  progress(fraction: number): void;
  /** A line of the trainer's log. */
  log(line: string): void;
}

export interface Trainer {
  /** Shown in logs and in the package manifest. */
  readonly name: string;
  train(run: TrainerRun): Promise<void>;
}

/** `faces.json`: where the face is on each frame of `video.mp4`. */
export interface FaceTrack {
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  readonly frameCount: number;
  /** One entry per frame, in order. Frames between detections are interpolated (`detected: false`). */
  readonly frames: ReadonlyArray<{
    readonly index: number;
    /** x, y, width, height in pixels of `video.mp4`. */
    readonly box: readonly [number, number, number, number];
    /** 68 points (iBUG 300-W order), pixels. */
    readonly landmarks: ReadonlyArray<readonly [number, number]>;
    readonly detected: boolean;
  }>;
  /** One square region that holds the face on every frame (the crop the trainer may use). */
  readonly crop: { readonly x: number; readonly y: number; readonly size: number };
}
