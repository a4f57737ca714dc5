import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DetectedFace,
  descriptorDistance,
  estimateHeadPose,
  type FaceAnalyzer,
  openFaceAnalyzer,
  type RgbImage,
  SAME_PERSON_DISTANCE,
} from "../../src/media/faces.js";
import type { RgbFrame } from "../../src/media/frames.js";

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const FFMPEG = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
const SAMPLES = join(dirname(require.resolve("@vladmandic/face-api/package.json")), "demo");
/** The sample photos are 1920 px wide; face positions below are in those pixels. */
const ORIGINAL_WIDTH = 1920;

/** Decodes a sample photo through an ffmpeg filter chain into packed RGB24 of the given width. */
async function decode(sample: number, filter: string, width: number): Promise<RgbImage> {
  const { stdout } = await run(
    FFMPEG,
    ["-v", "error", "-i", join(SAMPLES, `sample${sample}.jpg`), "-vf", `${filter},scale=${width}:-2`].concat([
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-",
    ]),
    { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
  );
  return { width, height: stdout.length / 3 / width, data: new Uint8Array(stdout) };
}

/** A square crop around (cx, cy) of the original photo, optionally mirrored. */
function crop(cx: number, cy: number, size: number, mirror = false): string {
  return `crop=${size}:${size}:${cx - size / 2}:${cy - size / 2}${mirror ? ",hflip" : ""}`;
}

function only(faces: DetectedFace[]): DetectedFace {
  expect(faces).toHaveLength(1);
  return faces[0] as DetectedFace;
}

// Face centres read off the photos (who is where), in original pixels. sample2's left-hand woman is in
// profile; every other face is within ~40° of frontal.
const EXPECTED_FACES: Record<number, Array<[number, number]>> = {
  1: [
    [502, 474],
    [933, 533],
    [1576, 320],
  ],
  2: [
    [437, 258],
    [977, 338],
    [1543, 274],
  ],
  3: [
    [685, 464],
    [1185, 364],
    [1599, 431],
  ],
  4: [
    [337, 308],
    [758, 180],
    [1074, 294],
    [1350, 264],
  ],
  5: [
    [865, 214],
    [1192, 316],
    [680, 539],
    [1488, 525],
    [462, 1010],
  ],
  6: [
    [354, 612],
    [760, 474],
    [1275, 445],
    [1593, 409],
  ],
};
// Two clearly different people, each alone in a crop: a frontal woman (sample6, third from left) and a
// woman with a turned head (sample1, left).
const FRONTAL = { sample: 6, cx: 1275, cy: 445 };
const TURNED = { sample: 1, cx: 502, cy: 474 };

let analyzer: FaceAnalyzer;

beforeAll(async () => {
  analyzer = await openFaceAnalyzer();
});

afterAll(async () => {
  await analyzer?.close();
});

describe("openFaceAnalyzer (SSD MobileNet v1 + 68 landmarks + recognition, WASM, worker thread)", () => {
  it.each(Object.entries(EXPECTED_FACES))(
    "finds every face in sample%s.jpg and nothing else",
    async (sample, expected) => {
      const image = await decode(Number(sample), "null", 1280);
      const faces = await analyzer.detect(image);
      const scale = ORIGINAL_WIDTH / image.width;

      expect(faces).toHaveLength(expected.length);
      for (const [x, y] of expected) {
        const containing = faces.filter(
          ({ box }) =>
            x >= box.x * scale &&
            x <= (box.x + box.width) * scale &&
            y >= box.y * scale &&
            y <= (box.y + box.height) * scale,
        );
        expect(containing, `one box around (${x}, ${y})`).toHaveLength(1);
      }
      for (const face of faces) {
        expect(face.score).toBeGreaterThanOrEqual(0.5);
        expect(face.score).toBeLessThanOrEqual(1);
        expect(face.box.x).toBeGreaterThanOrEqual(0);
        expect(face.box.x + face.box.width).toBeLessThanOrEqual(image.width + 1);
        expect(face.box.y + face.box.height).toBeLessThanOrEqual(image.height + 1);
        expect(face.descriptor).toBeInstanceOf(Float32Array);
        expect(face.descriptor).toHaveLength(128);
        expect(face.landmarks).toHaveLength(68);
        // The nose tip (landmark 30) lies inside the detected box (a profile's nose may touch its edge).
        const [noseX, noseY] = face.landmarks[30] as [number, number];
        const margin = 0.1 * face.box.width;
        expect(noseX).toBeGreaterThan(face.box.x - margin);
        expect(noseX).toBeLessThan(face.box.x + face.box.width + margin);
        expect(noseY).toBeGreaterThan(face.box.y);
        expect(noseY).toBeLessThan(face.box.y + face.box.height);
      }
      const areas = faces.map(({ box }) => box.width * box.height);
      expect(areas).toEqual([...areas].sort((a, b) => b - a));
      expect(image.data.length, "the caller's frame is left intact").toBe(image.width * image.height * 3);
    },
  );

  it("gives one person a small descriptor distance across shifted, rescaled and mirrored crops, and two people a large one", async () => {
    const { sample, cx, cy } = FRONTAL;
    const base = only(await analyzer.detect(await decode(sample, crop(cx, cy, 400), 320)));
    const shifted = only(await analyzer.detect(await decode(sample, crop(cx - 20, cy - 10, 440), 360)));
    const small = only(await analyzer.detect(await decode(sample, crop(cx + 10, cy - 20, 380), 200)));
    const mirrored = only(await analyzer.detect(await decode(sample, crop(cx, cy, 400, true), 320)));
    const other = only(
      await analyzer.detect(await decode(TURNED.sample, crop(TURNED.cx, TURNED.cy, 400), 320)),
    );

    for (const same of [shifted, small, mirrored]) {
      expect(descriptorDistance(base.descriptor, same.descriptor)).toBeLessThan(0.35);
    }
    for (const face of [base, shifted, small, mirrored]) {
      expect(descriptorDistance(face.descriptor, other.descriptor)).toBeGreaterThan(
        SAME_PERSON_DISTANCE + 0.1,
      );
    }
  });

  it("estimates a frontal face as frontal, and a turned face as turned with the sign flipping in a mirror", async () => {
    const frontal = only(
      await analyzer.detect(await decode(FRONTAL.sample, crop(FRONTAL.cx, FRONTAL.cy, 400), 320)),
    );
    expect(Math.abs(frontal.yawDegrees)).toBeLessThan(15);
    expect(Math.abs(frontal.rollDegrees)).toBeLessThan(15);

    const { sample, cx, cy } = TURNED;
    const turned = only(await analyzer.detect(await decode(sample, crop(cx, cy, 400), 320)));
    const mirrored = only(await analyzer.detect(await decode(sample, crop(cx, cy, 400, true), 320)));
    expect(turned.yawDegrees).toBeLessThan(-25);
    expect(mirrored.yawDegrees).toBeGreaterThan(25);
    expect(Math.abs(turned.yawDegrees + mirrored.yawDegrees)).toBeLessThan(15);
  });

  it("estimates the woman in profile as far from frontal", async () => {
    const image = await decode(2, "null", 1280);
    const faces = await analyzer.detect(image);
    const profile = faces.find(({ box }) => box.x * (ORIGINAL_WIDTH / image.width) < 600);
    expect(profile).toBeDefined();
    expect(Math.abs(profile?.yawDegrees ?? 0)).toBeGreaterThan(45);
  });

  it("finds no face in a plain gray frame", async () => {
    // Typed as frames.ts's RgbFrame: what the verify stage passes must be accepted as an RgbImage.
    const gray: RgbFrame = {
      index: 0,
      timeSeconds: 0,
      width: 640,
      height: 360,
      data: new Uint8Array(640 * 360 * 3).fill(128),
    };
    expect(await analyzer.detect(gray)).toEqual([]);
  });

  it("rejects a frame whose data length does not match its size", async () => {
    const frame = { width: 640, height: 360, data: new Uint8Array(640 * 360 * 3 - 1) };
    await expect(analyzer.detect(frame)).rejects.toThrow("expected 640×360×3 = 691200");
    await expect(analyzer.detect({ width: 0, height: 360, data: new Uint8Array(0) })).rejects.toThrow(
      "positive integers",
    );
  });

  it("keeps the caller's event loop turning while a frame is analysed", async () => {
    const image = await decode(5, "null", 1280);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    try {
      expect(await analyzer.detect(image)).toHaveLength(5);
    } finally {
      clearInterval(timer);
    }
    const elapsed = performance.now() - started;
    // In-thread inference runs the network synchronously and lets no timer fire at all.
    expect(ticks).toBeGreaterThanOrEqual(Math.max(5, Math.floor(elapsed / 5 / 4)));
  });
});

describe("FaceAnalyzer lifecycle", () => {
  it("rejects in-flight and later detect() calls after close()", async () => {
    const own = await openFaceAnalyzer({ detector: "tinyFaceDetector" });
    const frame = await decode(3, "null", 640);
    // The faster, less thorough detector also loads and finds the three women in sample3.
    expect(await own.detect(frame)).toHaveLength(3);

    // The expectation is attached before close() so the rejection is never momentarily unhandled.
    const inFlight = expect(own.detect(frame)).rejects.toThrow("closed");
    await own.close();
    await inFlight;
    await expect(own.detect(frame)).rejects.toThrow("closed");
    await own.close();
  });

  it("refuses a confidence outside 0..1", async () => {
    await expect(openFaceAnalyzer({ minConfidence: 1.5 })).rejects.toThrow("minConfidence");
  });
});

describe("estimateHeadPose", () => {
  // The same generic face the estimator fits, rotated by a known pose and projected orthographically.
  const MODEL: Array<[number, number, number, number]> = [
    [30, 0, 0, 0],
    [8, 0, -330, -65],
    [36, -225, 170, -135],
    [45, 225, 170, -135],
    [48, -150, -150, -125],
    [54, 150, -150, -125],
  ];

  function project(yaw: number, pitch: number, roll: number): Array<[number, number]> {
    const [a, b, c] = [pitch, yaw, roll].map((deg) => (deg * Math.PI) / 180) as [number, number, number];
    const landmarks = Array.from({ length: 68 }, () => [0, 0] as [number, number]);
    for (const [index, x, y, z] of MODEL) {
      // Rx(pitch), then Ry(yaw), then Rz(roll).
      const [x1, y1, z1] = [x, y * Math.cos(a) - z * Math.sin(a), y * Math.sin(a) + z * Math.cos(a)];
      const [x2, y2] = [x1 * Math.cos(b) + z1 * Math.sin(b), y1];
      const [x3, y3] = [x2 * Math.cos(c) - y2 * Math.sin(c), x2 * Math.sin(c) + y2 * Math.cos(c)];
      // Image y points down; scale and offset like a face in a 640-px frame.
      landmarks[index] = [320 + 0.4 * x3, 200 - 0.4 * y3];
    }
    return landmarks;
  }

  it.each([
    [0, 0, 0],
    [40, 10, 5],
    [-60, -15, -20],
    [20, 25, 30],
  ])("recovers yaw %d°, pitch %d°, roll %d°", (yaw, pitch, roll) => {
    const pose = estimateHeadPose(project(yaw, pitch, roll));
    expect(pose.yawDegrees).toBeCloseTo(yaw, 3);
    expect(pose.pitchDegrees).toBeCloseTo(pitch, 3);
    expect(pose.rollDegrees).toBeCloseTo(roll, 3);
  });

  it("needs all 68 landmarks", () => {
    expect(() => estimateHeadPose([[0, 0]])).toThrow("68 landmarks");
  });
});
