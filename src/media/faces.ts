// Face analysis for the verification stage: detection, 68-point landmarks, 128-d descriptors and a rough
// head pose per frame. Inference runs in a worker thread (face-worker.ts) so the event loop that serves
// HTTP in the same process never stalls for the ~0.35 s a 640-px frame takes.
import { Worker } from "node:worker_threads";
import type {
  FaceDetectorModel,
  FaceWorkerConfig,
  FaceWorkerRequest,
  FaceWorkerResponse,
  RawFace,
} from "./face-worker.js";

export type { FaceDetectorModel } from "./face-worker.js";

/** A packed RGB24 image (width × height × 3 bytes); frames.ts's RgbFrame is structurally compatible. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Head orientation in degrees; 0/0/0 faces the camera. */
export interface HeadPose {
  /** Positive: the nose points towards the image's right edge (the person turned to their left). */
  yawDegrees: number;
  /** Positive: looking down. */
  pitchDegrees: number;
  /** Positive: head tilted counter-clockwise as seen in the image. */
  rollDegrees: number;
}

/** One face found in an image; all coordinates are pixels of the input image. */
export interface DetectedFace extends HeadPose {
  box: { x: number; y: number; width: number; height: number };
  /** Detector confidence, 0..1. */
  score: number;
  /** The 68 iBUG/dlib landmarks, [x, y] each. */
  landmarks: Array<[number, number]>;
  /** 128-d face-recognition embedding; compare with descriptorDistance(). */
  descriptor: Float32Array;
}

/** A loaded detector + landmark + recognition model set running in its own worker thread. */
export interface FaceAnalyzer {
  /** Faces in the image, largest box first. The image data is copied; the caller's array stays intact. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
  /** Stops the worker; pending and later detect() calls reject. Idempotent. */
  close(): Promise<void>;
}

/** Settings fixed for the lifetime of one analyzer (they decide which model the worker loads). */
export interface FaceAnalyzerOptions {
  /** Minimum detector confidence for a face to be reported (default 0.5). */
  minConfidence?: number;
  /**
   * Default "ssdMobilenetv1" (~0.35 s per 640-px frame with one face, on one core). "tinyFaceDetector"
   * (input 512) is ~2.3× faster but misses close-up faces that fill much of the frame and turned faces,
   * so it is only for callers that can tolerate missed frames.
   */
  detector?: FaceDetectorModel;
}

/** Descriptor distance below which two faces are usually the same person (face-api's own threshold). */
export const SAME_PERSON_DISTANCE = 0.6;

/** Euclidean distance between two face descriptors; below SAME_PERSON_DISTANCE usually means one person. */
export function descriptorDistance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new Error(`descriptor lengths differ: ${a.length} vs ${b.length}`);
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    sum += d * d;
  }
  return Math.sqrt(sum);
}

// A generic 3-D face (x right, y up, z towards the camera; arbitrary units, nose tip at the origin) at the
// six landmarks that are stable across expressions and well localised even on turned heads.
const POSE_MODEL: ReadonlyArray<readonly [index: number, x: number, y: number, z: number]> = [
  [30, 0, 0, 0], // nose tip
  [8, 0, -330, -65], // chin
  [36, -225, 170, -135], // outer corner of the eye on the image's left
  [45, 225, 170, -135], // outer corner of the eye on the image's right
  [48, -150, -150, -125], // mouth corner, image left
  [54, 150, -150, -125], // mouth corner, image right
];

/**
 * Rough head pose from 68 landmarks: fits a scaled-orthographic camera to a generic 3-D face by least
 * squares and reads yaw/pitch/roll from the rotation. Good to ~10°, which is enough to tell a frontal
 * face from a profile; perspective and individual face shape are ignored.
 */
export function estimateHeadPose(landmarks: ReadonlyArray<readonly [number, number]>): HeadPose {
  if (landmarks.length !== 68) {
    throw new Error(`expected 68 landmarks, got ${landmarks.length}`);
  }
  const n = POSE_MODEL.length;
  const model = POSE_MODEL.map(([, x, y, z]) => [x, y, z] as const);
  // Image y grows downwards; flip it so both point sets are right-handed with y up.
  const image = POSE_MODEL.map(([index]) => {
    const [u, v] = landmarks[index] as readonly [number, number];
    return [u, -v] as const;
  });
  const modelMean = [0, 1, 2].map((k) => model.reduce((s, p) => s + (p[k] as number), 0) / n);
  const imageMean = [0, 1].map((k) => image.reduce((s, p) => s + (p[k] as number), 0) / n);
  // Least squares for the 2×3 projection M in (image − mean) = M · (model − mean): M = B·Aᵀ·(A·Aᵀ)⁻¹.
  const aat = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  const bat = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const a = [0, 1, 2].map((k) => ((model[i] as readonly number[])[k] as number) - (modelMean[k] as number));
    const b = [0, 1].map((k) => ((image[i] as readonly number[])[k] as number) - (imageMean[k] as number));
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++)
        aat[r * 3 + c] = (aat[r * 3 + c] as number) + (a[r] as number) * (a[c] as number);
    }
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 3; c++)
        bat[r * 3 + c] = (bat[r * 3 + c] as number) + (b[r] as number) * (a[c] as number);
    }
  }
  const inv = invert3x3(aat);
  const row = (r: number) =>
    [0, 1, 2].map((c) =>
      [0, 1, 2].reduce((s, k) => s + (bat[r * 3 + k] as number) * (inv[k * 3 + c] as number), 0),
    ) as [number, number, number];
  // The two rows are the camera's x and y axes in model coordinates (times scale); make them orthonormal
  // and complete the rotation with their cross product.
  const r1 = normalize(row(0));
  const m2 = row(1);
  const d = dot(r1, m2);
  const r2 = normalize([m2[0] - d * r1[0], m2[1] - d * r1[1], m2[2] - d * r1[2]]);
  const r3: [number, number, number] = [
    r1[1] * r2[2] - r1[2] * r2[1],
    r1[2] * r2[0] - r1[0] * r2[2],
    r1[0] * r2[1] - r1[1] * r2[0],
  ];
  // R = Rz(roll) · Ry(yaw) · Rx(pitch), so R[2][0] = −sin(yaw), R[2][1]/R[2][2] = tan(pitch), R[1][0]/R[0][0] = tan(roll).
  const degrees = (radians: number) => (radians * 180) / Math.PI;
  return {
    yawDegrees: degrees(Math.asin(Math.max(-1, Math.min(1, -r3[0])))),
    pitchDegrees: degrees(Math.atan2(r3[1], r3[2])),
    rollDegrees: degrees(Math.atan2(r2[0], r1[0])),
  };
}

function dot(a: readonly number[], b: readonly number[]): number {
  return (
    (a[0] as number) * (b[0] as number) +
    (a[1] as number) * (b[1] as number) +
    (a[2] as number) * (b[2] as number)
  );
}

function normalize(v: readonly number[]): [number, number, number] {
  const length = Math.sqrt(dot(v, v)) || 1;
  return [(v[0] as number) / length, (v[1] as number) / length, (v[2] as number) / length];
}

function invert3x3(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    A,
    -(b * i - c * h),
    b * f - c * e,
    B,
    a * i - c * g,
    -(a * f - c * d),
    C,
    -(a * h - b * g),
    a * e - b * d,
  ].map((x) => x / det);
}

/** Loads the face models into a new worker thread and resolves once it can analyse frames. */
export async function openFaceAnalyzer(options: FaceAnalyzerOptions = {}): Promise<FaceAnalyzer> {
  const minConfidence = options.minConfidence ?? 0.5;
  if (!(minConfidence >= 0 && minConfidence <= 1)) {
    throw new Error(`minConfidence must be within 0..1, got ${minConfidence}`);
  }
  const config: FaceWorkerConfig = { detector: options.detector ?? "ssdMobilenetv1", minConfidence };
  const worker = startWorker(config);

  interface Pending {
    resolve(faces: DetectedFace[]): void;
    reject(error: Error): void;
  }
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closed = false;
  // Set once the worker is gone for good; every later detect() rejects with it instead of hanging.
  let failure: Error | undefined;
  let onReady: { resolve(): void; reject(error: Error): void } | undefined;

  const fail = (error: Error) => {
    failure ??= error;
    onReady?.reject(failure);
    for (const request of pending.values()) request.reject(failure);
    pending.clear();
  };
  const settled = (id: number) => {
    const request = pending.get(id);
    pending.delete(id);
    // An idle analyzer must not keep the process alive; a busy one must, or a script awaiting detect()
    // could exit mid-frame.
    if (pending.size === 0) worker.unref();
    return request;
  };

  worker.on("message", (message: FaceWorkerResponse) => {
    if (message.type === "ready") {
      onReady?.resolve();
    } else if (message.type === "result") {
      settled(message.id)?.resolve(message.faces.map(toDetectedFace).sort((a, b) => area(b) - area(a)));
    } else {
      settled(message.id)?.reject(new Error(`face analysis failed: ${message.message}`));
    }
  });
  worker.on("error", (error) => fail(new Error(`face worker crashed: ${error.message}`, { cause: error })));
  worker.on("exit", (code) =>
    fail(new Error(closed ? "FaceAnalyzer is closed" : `face worker exited with code ${code}`)),
  );

  try {
    await new Promise<void>((resolve, reject) => {
      onReady = { resolve, reject };
    });
  } catch (error) {
    await worker.terminate();
    throw error;
  } finally {
    onReady = undefined;
  }
  worker.unref();

  return {
    async detect(image: RgbImage): Promise<DetectedFace[]> {
      if (closed) throw new Error("FaceAnalyzer is closed");
      if (failure) throw failure;
      const data = copyFrame(image);
      const id = nextId++;
      return new Promise<DetectedFace[]>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        const request: FaceWorkerRequest = { id, width: image.width, height: image.height, data };
        worker.postMessage(request, [data.buffer]);
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      fail(new Error("FaceAnalyzer is closed"));
      await worker.terminate();
    },
  };
}

// Validates the frame and copies it into a fresh ArrayBuffer that is then transferred (not cloned) to the
// worker: one memcpy (~0.2 ms for 640×360), and the caller's frame stays usable for its own checks.
function copyFrame(image: RgbImage): Uint8Array<ArrayBuffer> {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`RGB frame size must be positive integers, got ${width}×${height}`);
  }
  if (!(data instanceof Uint8Array)) {
    throw new Error("RGB frame data must be a Uint8Array");
  }
  const expected = width * height * 3;
  if (data.length !== expected) {
    throw new Error(`RGB frame data has ${data.length} bytes, expected ${width}×${height}×3 = ${expected}`);
  }
  return new Uint8Array(data);
}

function toDetectedFace(raw: RawFace): DetectedFace {
  const landmarks: Array<[number, number]> = [];
  for (let i = 0; i < raw.landmarks.length; i += 2) {
    landmarks.push([raw.landmarks[i] as number, raw.landmarks[i + 1] as number]);
  }
  return {
    box: raw.box,
    score: raw.score,
    landmarks,
    descriptor: raw.descriptor,
    ...estimateHeadPose(landmarks),
  };
}

function area(face: DetectedFace): number {
  return face.box.width * face.box.height;
}

// Under tsx/vitest this module is the .ts source, so the worker is face-worker.ts, which plain Node cannot
// load. Node 20 ignores `--import` in a Worker's execArgv, so instead a tiny eval'd bootstrap registers
// tsx's ESM hooks inside the worker before importing the entry. After `tsc` the sibling .js is started directly.
function startWorker(config: FaceWorkerConfig): Worker {
  const isTypeScript = import.meta.url.endsWith(".ts");
  const entry = new URL(isTypeScript ? "./face-worker.ts" : "./face-worker.js", import.meta.url);
  if (!isTypeScript) {
    return new Worker(entry, { workerData: config });
  }
  let tsxApi: string;
  try {
    tsxApi = import.meta.resolve("tsx/esm/api");
  } catch (error) {
    throw new Error("running faces.ts from TypeScript source needs tsx (a devDependency) for its worker", {
      cause: error,
    });
  }
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: config });
}
