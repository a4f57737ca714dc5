/**
 * A synthetic training input for the reference trainer (what the preprocess stage would leave): a
 * WIDTH×HEIGHT testsrc2 video of FRAMES frames that repeats itself every PERIOD frames, and a face track
 * with plausible landmarks on every frame that sways with it. Only one loop length (PERIOD) fits a
 * 3–10 s loop in FRAMES frames. Also the helpers that look at what a trainer or an export wrote.
 */
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { runFfmpeg } from "../../src/media/ffmpeg.js";
import { inputUrl } from "../../src/media/probe.js";
import type { FaceTrack, TrainerRun } from "../../src/pipeline/trainers/trainer.js";

export const WIDTH = 320;
export const HEIGHT = 240;
export const FRAMES = 150;
/** The video repeats every PERIOD frames. */
export const PERIOD = 90;

export function runOf(
  input: string,
  output: string,
  sinks: { progress?: number[]; logs?: string[] } = {},
): TrainerRun {
  return {
    inputDir: input,
    outputDir: output,
    signal: new AbortController().signal,
    progress: (f) => sinks.progress?.push(f),
    log: (line) => sinks.logs?.push(line),
  };
}

/** A training input: testsrc2 repeating every PERIOD frames, and a face track that moves with it. */
export async function makeInput(dir: string, crop: FaceTrack["crop"]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runFfmpeg([
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${WIDTH}x${HEIGHT}:rate=25:duration=${PERIOD / 25}`,
    "-vf",
    `loop=loop=-1:size=${PERIOD}`,
    "-frames:v",
    String(FRAMES),
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    inputUrl(path.join(dir, "video.mp4")),
  ]);
  await writeFile(path.join(dir, "faces.json"), JSON.stringify(faceTrack(FRAMES, crop)));
}

export function faceTrack(frameCount: number, crop: FaceTrack["crop"]): FaceTrack {
  const frames = Array.from({ length: frameCount }, (_, index) => {
    // The face sways with the video's period, so coords differ from frame to frame but loop too.
    const cx = crop.x + crop.size / 2 + 6 * Math.sin((2 * Math.PI * index) / PERIOD);
    const cy = 120;
    const w = 120;
    const h = 140;
    return {
      index,
      box: [cx - w / 2, cy - 0.6 * h, w, h] as const,
      landmarks: landmarks(cx, cy, w, h),
      detected: index % 5 === 0,
    };
  });
  return { fps: 25, width: WIDTH, height: HEIGHT, frameCount, frames, crop };
}

/** 68 points in iBUG order on a schematic face centred at (cx, cy): jaw, brows, nose, eyes, mouth. */
function landmarks(cx: number, cy: number, w: number, h: number): Array<[number, number]> {
  const points: Array<[number, number]> = [];
  for (let i = 0; i <= 16; i++) {
    const a = (Math.PI * i) / 16;
    points.push([cx - (w / 2) * Math.cos(a), cy - 0.1 * h + 0.6 * h * Math.sin(a)]);
  }
  for (const start of [cx - 0.4 * w, cx + 0.08 * w]) {
    for (let i = 0; i < 5; i++)
      points.push([start + i * 0.08 * w, cy - 0.3 * h - 0.03 * h * Math.sin((Math.PI * i) / 4)]);
  }
  for (let i = 0; i < 4; i++) points.push([cx, cy - 0.2 * h + i * 0.08 * h]);
  for (let i = 0; i < 5; i++) points.push([cx - 0.1 * w + i * 0.05 * w, cy + 0.1 * h]);
  for (const ex of [cx - 0.2 * w, cx + 0.2 * w]) {
    for (let i = 0; i < 6; i++) {
      const a = (2 * Math.PI * i) / 6;
      points.push([ex + 0.08 * w * Math.cos(a), cy - 0.15 * h + 0.03 * h * Math.sin(a)]);
    }
  }
  for (const [count, rx, ry] of [
    [12, 0.2, 0.06],
    [8, 0.12, 0.03],
  ] as const) {
    for (let i = 0; i < count; i++) {
      const a = (2 * Math.PI * i) / count;
      points.push([cx + rx * w * Math.cos(a), cy + 0.28 * h + ry * h * Math.sin(a)]);
    }
  }
  return points;
}

/** Every frame of `file` through `filter`, as width×height gray bytes (at most `limit` frames). */
export async function grayFrames(
  file: string,
  filter: string,
  width: number,
  height: number,
  limit?: number,
): Promise<Uint8Array[]> {
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  await runFfmpeg(
    [
      "-i",
      inputUrl(file),
      "-vf",
      `${filter},format=gray`,
      ...(limit ? ["-frames:v", String(limit)] : []),
      "-f",
      "rawvideo",
      "-pix_fmt",
      "gray",
      "pipe:1",
    ],
    { stdout },
  );
  const all = Buffer.concat(chunks);
  const size = width * height;
  return Array.from({ length: all.length / size }, (_, i) => all.subarray(i * size, (i + 1) * size));
}

export function meanAbsDiff(a: Uint8Array | undefined, b: Uint8Array | undefined): number {
  if (!a || !b || a.length !== b.length) throw new Error("frames to compare are missing or differ in size");
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

export function pngHeader(file: string): { width: number; height: number } {
  const head = readFileSync(file).subarray(0, 24);
  if (head.subarray(1, 4).toString("latin1") !== "PNG") throw new Error(`${file} is not a PNG`);
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}
