/** The reference trainer's input: faces.json, read and checked against what the trainer relies on. */
import { readFile } from "node:fs/promises";
import { isFiniteNumber, isPositiveInteger, isRecord } from "../../value-guards.js";
import type { FaceTrack } from "../trainer.js";

/** Frame rate of the training input (the preprocess stage normalises video.mp4 to it) and of the package. */
export const FPS = 25;
const LANDMARKS = 68;

/** Reads and checks faces.json; the error says what is missing or wrong. */
export async function readFaceTrack(file: string): Promise<FaceTrack> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "ENOENT";
    throw new Error(
      missing
        ? `the training input has no faces.json (the face track the preprocess stage writes): ${file}`
        : `could not read faces.json: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`faces.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const problem = faceTrackProblem(value);
  if (problem) throw new Error(`faces.json is not a valid face track: ${problem}`);
  return value as FaceTrack;
}

/** The first thing wrong with a parsed faces.json, or undefined when it is a usable FaceTrack. */
function faceTrackProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return "it is not an object";
  const { fps, width, height, frameCount, frames, crop } = value;
  if (fps !== FPS) return `fps is ${String(fps)}, expected ${FPS}`;
  if (!isPositiveInteger(width) || !isPositiveInteger(height))
    return "width and height must be positive integers";
  if (!isPositiveInteger(frameCount)) return "frameCount must be a positive integer";
  if (!Array.isArray(frames)) return "frames is missing";
  if (frames.length !== frameCount) return `frameCount is ${frameCount} but frames lists ${frames.length}`;
  if (!isRecord(crop) || !isFiniteNumber(crop.x) || !isFiniteNumber(crop.y) || !isFiniteNumber(crop.size)) {
    return "crop must be { x, y, size }";
  }
  if (!(crop.size >= 2)) return `crop.size is ${crop.size}`;
  if (crop.x + crop.size <= 0 || crop.y + crop.size <= 0 || crop.x >= width || crop.y >= height) {
    return "crop lies outside the video";
  }
  for (let i = 0; i < frames.length; i++) {
    const frame: unknown = frames[i];
    if (!isRecord(frame)) return `frames[${i}] is not an object`;
    if (frame.index !== i) return `frames[${i}].index is ${String(frame.index)}`;
    const box = frame.box;
    if (!Array.isArray(box) || box.length !== 4 || !box.every(isFiniteNumber)) {
      return `frames[${i}].box must be [x, y, width, height]`;
    }
    const landmarks = frame.landmarks;
    if (
      !Array.isArray(landmarks) ||
      landmarks.length !== LANDMARKS ||
      !landmarks.every((p) => Array.isArray(p) && p.length === 2 && p.every(isFiniteNumber))
    ) {
      return `frames[${i}].landmarks must be ${LANDMARKS} [x, y] points`;
    }
  }
  return undefined;
}
