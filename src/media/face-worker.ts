// Worker-thread entry for faces.ts: owns tfjs (WASM backend) and the face-api models so inference never
// runs on the thread that answers HTTP. Started only by openFaceAnalyzer(); importing it elsewhere throws.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import type * as Tf from "@tensorflow/tfjs";
import type * as TfWasm from "@tensorflow/tfjs-backend-wasm";
import type * as FaceApi from "@vladmandic/face-api/dist/face-api.node-wasm.js";

/** Which face-api detector the worker loads (one model load per analyzer). */
export type FaceDetectorModel = "ssdMobilenetv1" | "tinyFaceDetector";

/** Start-up settings passed as workerData. */
export interface FaceWorkerConfig {
  detector: FaceDetectorModel;
  minConfidence: number;
}

/** main → worker: one packed RGB24 frame; `data` is transferred, never shared. */
export interface FaceWorkerRequest {
  id: number;
  width: number;
  height: number;
  data: Uint8Array;
}

/** One face as computed in the worker; head pose is derived from the landmarks on the caller's side. */
export interface RawFace {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** 68 points as x0, y0, x1, y1 … in input pixels. */
  landmarks: Float32Array;
  descriptor: Float32Array;
}

/** worker → main. */
export type FaceWorkerResponse =
  | { type: "ready"; backend: string; simd: boolean }
  | { type: "result"; id: number; faces: RawFace[] }
  | { type: "error"; id: number; message: string };

const port = parentPort;
if (port === null) {
  throw new Error("face-worker must be started as a worker thread by openFaceAnalyzer()");
}
const config = workerData as FaceWorkerConfig;

// The face-api "node-wasm" bundle is CommonJS and require()s @tensorflow/tfjs and the wasm backend itself;
// requiring both here gives the very same module instances, so setWasmPaths/setBackend act on its tfjs.
const require = createRequire(import.meta.url);
const tf = require("@tensorflow/tfjs") as typeof Tf;
const tfWasm = require("@tensorflow/tfjs-backend-wasm") as typeof TfWasm;
const faceapi = require("@vladmandic/face-api/dist/face-api.node-wasm.js") as typeof FaceApi;

const modelDir = join(dirname(require.resolve("@vladmandic/face-api/package.json")), "model");
const wasmDir = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");

type FaceApiWeightMap = Parameters<FaceApi.NeuralNetwork<unknown>["loadFromWeightMap"]>[0];

interface WeightsManifestGroup {
  paths: string[];
  weights: Tf.io.WeightsManifestEntry[];
}

// face-api's loadFromDisk() goes through its own environment shim and tfjs-node style IO; reading the
// manifest and shards ourselves and decoding with tf.io keeps model loading plain-file and offline.
async function loadNet(net: FaceApi.NeuralNetwork<unknown>, name: string) {
  const manifest = JSON.parse(
    await readFile(join(modelDir, `${name}-weights_manifest.json`), "utf8"),
  ) as WeightsManifestGroup[];
  const weightMap: Tf.NamedTensorMap = {};
  for (const group of manifest) {
    const shards = await Promise.all(group.paths.map((path) => readFile(join(modelDir, path))));
    const joined = Buffer.concat(shards);
    // Copy out exactly the shard bytes: a Buffer may be a view into a larger (pooled) ArrayBuffer.
    const bytes = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
    Object.assign(weightMap, tf.io.decodeWeights(bytes, group.weights));
  }
  // face-api declares its own copy of the tfjs types; at run time these are the same tensor objects.
  net.loadFromWeightMap(weightMap as unknown as FaceApiWeightMap);
}

async function init(): Promise<{ detectorOptions: FaceApi.FaceDetectionOptions; simd: boolean }> {
  // A file path prefix (trailing slash required) makes emscripten read the .wasm from disk, never a CDN.
  tfWasm.setWasmPaths(`${wasmDir}/`);
  if (!(await tf.setBackend("wasm"))) {
    throw new Error("tfjs WASM backend failed to initialise");
  }
  await tf.ready();
  // Multi-threaded WASM is disabled by tfjs on Node (WASM_HAS_MULTITHREAD_SUPPORT is false there); one
  // inference thread also leaves the second core of a small box to the HTTP thread. SIMD is auto-detected.
  const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  if (config.detector === "ssdMobilenetv1") {
    await loadNet(faceapi.nets.ssdMobilenetv1, "ssd_mobilenetv1_model");
  } else {
    await loadNet(faceapi.nets.tinyFaceDetector, "tiny_face_detector_model");
  }
  await loadNet(faceapi.nets.faceLandmark68Net, "face_landmark_68_model");
  await loadNet(faceapi.nets.faceRecognitionNet, "face_recognition_model");
  const detectorOptions =
    config.detector === "ssdMobilenetv1"
      ? new faceapi.SsdMobilenetv1Options({ minConfidence: config.minConfidence, maxResults: 20 })
      : new faceapi.TinyFaceDetectorOptions({ inputSize: 512, scoreThreshold: config.minConfidence });
  return { detectorOptions, simd };
}

async function analyse(request: FaceWorkerRequest, options: FaceApi.FaceDetectionOptions) {
  const { width, height, data } = request;
  const input = tf.tensor3d(data, [height, width, 3], "int32");
  try {
    const results = await faceapi
      .detectAllFaces(input as unknown as FaceApi.tf.Tensor3D, options)
      .withFaceLandmarks()
      .withFaceDescriptors();
    return results.map((result): RawFace => {
      const { x, y, width: w, height: h } = result.detection.box;
      const landmarks = new Float32Array(136);
      result.landmarks.positions.forEach((point, i) => {
        landmarks[2 * i] = point.x;
        landmarks[2 * i + 1] = point.y;
      });
      return {
        box: { x, y, width: w, height: h },
        score: result.detection.score,
        landmarks,
        descriptor: result.descriptor,
      };
    });
  } finally {
    input.dispose();
  }
}

const { detectorOptions, simd } = await init();

// Frames are analysed one at a time in arrival order: concurrent tfjs calls would only interleave on this
// single thread and raise peak memory.
let queue: Promise<void> = Promise.resolve();
port.on("message", (request: FaceWorkerRequest) => {
  queue = queue.then(async () => {
    let response: FaceWorkerResponse;
    try {
      const faces = await analyse(request, detectorOptions);
      response = { type: "result", id: request.id, faces };
    } catch (error) {
      response = { type: "error", id: request.id, message: (error as Error).message ?? String(error) };
    }
    port.postMessage(response);
  });
});
port.postMessage({ type: "ready", backend: tf.getBackend(), simd } satisfies FaceWorkerResponse);
