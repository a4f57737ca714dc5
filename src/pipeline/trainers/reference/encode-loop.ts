/** The reference trainer's encoding: idle.mp4 and the face crops of the loop, from one decode. */
import path from "node:path";
import { runFfmpeg } from "../../../media/ffmpeg.js";
import { inputUrl } from "../../../media/probe.js";
import type { FaceTrack } from "../trainer.js";
import { type Crop, cropChain, frameExactInput } from "./crop.js";
import { FPS } from "./input.js";
import type { LoopPoint } from "./loop-search.js";

/** The settings of the reference trainer that shape idle.mp4 and the crops. */
export interface EncodeSettings {
  cropSize: number;
  crf: number;
  preset: string;
}

/** Writes idle.mp4 (the loop) and crops/NNNNNN.png (its face crop per frame) into `outputDir`. */
export async function encodeLoop(
  videoFile: string,
  outputDir: string,
  loop: LoopPoint,
  track: FaceTrack,
  crop: Crop,
  settings: EncodeSettings,
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
      ...frameExactInput(videoFile, filter),
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
