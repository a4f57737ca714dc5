/**
 * The verification rules as data: format problems against the built-in policies, operator policy
 * files, the face findings over sampled frames, and the face track built from sparse detections.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BUILT_IN_POLICIES,
  formatProblems,
  policyFromJson,
  type VideoFacts,
} from "../../src/domain/verify-policy.js";
import { buildFaceTrack, type FaceObservation } from "../../src/pipeline/stages/face-track.js";
import { type FaceSample, faceFindings } from "../../src/pipeline/stages/verify.stage.js";

const policy = BUILT_IN_POLICIES.default as NonNullable<(typeof BUILT_IN_POLICIES)["default"]>;
const dev = BUILT_IN_POLICIES.dev as typeof policy;

const good: VideoFacts = {
  formatName: "mov,mp4,m4a,3gp,3g2,mj2",
  durationSeconds: 240,
  video: { codec: "h264", width: 1920, height: 1080, fps: 25 },
  audio: { codec: "aac" },
};

describe("formatProblems", () => {
  it("accepts 1080p and 4K in either orientation for 3–10 minutes, and says what is wrong otherwise", () => {
    expect(formatProblems(good, policy)).toEqual([]);
    expect(
      formatProblems({ ...good, video: { codec: "hevc", width: 2160, height: 3840, fps: 30 } }, policy),
    ).toEqual([]);
    const bad = formatProblems(
      {
        formatName: "avi",
        durationSeconds: 12.34,
        video: { codec: "mpeg4", width: 1280, height: 720, fps: 12 },
        audio: null,
      },
      policy,
    );
    expect(bad).toEqual([
      "The file is in avi format; upload mp4, mov, webm, matroska",
      "The video is encoded as mpeg4; use h264, hevc, vp9, av1",
      "The video is 1280×720; record 1920×1080 or 3840×2160 (landscape or portrait)",
      "The video runs at 12 fps; record at 24–60 fps",
      "The video is 12.3 seconds long; it must be 2.8 minutes to 10.2 minutes long",
      "The video has no sound track; record with the microphone on",
    ]);
    expect(formatProblems({ ...good, video: null }, policy)).toContain("The file has no video track");
  });

  it("lets the dev policy take short clips of any size with a short side of 240 or more", () => {
    const clip = { ...good, durationSeconds: 8, video: { codec: "h264", width: 640, height: 360, fps: 25 } };
    expect(formatProblems(clip, dev)).toEqual([]);
    expect(formatProblems({ ...clip, durationSeconds: 1 }, dev)).toHaveLength(1);
    expect(formatProblems({ ...clip, video: { ...clip.video, width: 320, height: 180 } }, dev)).toEqual([
      "The video is 320×180; its short side must be at least 240 pixels",
    ]);
  });

  it("never throws and reports one sentence per broken rule, whatever the facts", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.double({ noNaN: false }),
        fc.option(
          fc.record({
            codec: fc.string(),
            width: fc.integer({ min: 0, max: 10000 }),
            height: fc.integer({ min: 0, max: 10000 }),
            fps: fc.double(),
          }),
          { nil: null },
        ),
        fc.option(fc.record({ codec: fc.string() }), { nil: null }),
        (formatName, durationSeconds, video, audio) => {
          const problems = formatProblems({ formatName, durationSeconds, video, audio }, policy);
          expect(problems.length).toBeLessThanOrEqual(6);
          for (const p of problems) expect(p).toMatch(/^The /);
        },
      ),
    );
  });
});

describe("policyFromJson", () => {
  it("overrides the fields it names on top of the policy it extends", () => {
    const custom = policyFromJson("studio.json", {
      extends: "dev",
      minDurationSeconds: 30,
      requireAudio: false,
    });
    expect(custom).toMatchObject({
      name: "studio.json",
      minDurationSeconds: 30,
      requireAudio: false,
      minShortSide: 240,
    });
    expect(policyFromJson("x", { resolutions: [[1280, 720]] }).resolutions).toEqual([[1280, 720]]);
  });

  it("names the bad field of a bad policy file", () => {
    expect(() => policyFromJson("p", [])).toThrow(/must be a JSON object/);
    expect(() => policyFromJson("p", { extends: "strict" })).toThrow(/extends must name default or dev/);
    expect(() => policyFromJson("p", { maxFps: "60" })).toThrow(/maxFps must be a number/);
    expect(() => policyFromJson("p", { resolutions: [[1920]] })).toThrow(/resolutions must be/);
    expect(() => policyFromJson("p", { videoCodecs: "h264" })).toThrow(/videoCodecs must be an array/);
  });
});

function face(height: number, yawDegrees = 0, d = 0): FaceSample["faces"][number] {
  return { box: { x: 0, y: 0, width: height, height }, yawDegrees, descriptor: new Float32Array([d, 1 - d]) };
}

describe("faceFindings", () => {
  it("passes one large frontal face on nearly every frame and averages its descriptor", () => {
    const samples: FaceSample[] = Array.from({ length: 10 }, (_, i) => ({
      frameHeight: 360,
      faces: [face(120, 5, i % 2)],
    }));
    const found = faceFindings(samples, policy);
    expect(found.problems).toEqual([]);
    expect(found.singleFaceSamples).toBe(10);
    expect(Array.from(found.descriptor ?? [])).toEqual([0.5, 0.5]);
  });

  it("says how many frames had no face or several, when the face is too small, and when it looks away", () => {
    const samples: FaceSample[] = [
      ...Array.from({ length: 6 }, () => ({ frameHeight: 1000, faces: [face(50, 60)] })),
      { frameHeight: 1000, faces: [] },
      { frameHeight: 1000, faces: [face(50), face(40)] },
    ];
    expect(faceFindings(samples, policy).problems).toEqual([
      "Only 6 of 8 sampled frames show exactly one face (1 showed no face, 1 showed more than one); film one person, alone, the face clearly visible and filling a good part of the frame throughout",
      "The face fills 5% of the frame's height; come closer so it fills at least 10%",
      "The face is turned away from the camera in 6 of 6 frames; look into the camera",
    ]);
    expect(faceFindings([], policy).descriptor).toBeUndefined();
  });
});

describe("buildFaceTrack", () => {
  const observation = (t: number, x: number): FaceObservation => ({
    timeSeconds: t,
    box: [x, 50, 100, 120],
    landmarks: Array.from({ length: 68 }, (_, i) => [x + i, 60 + i] as const),
  });

  it("gives every frame a box and 68 landmarks, interpolating between detections and holding at the ends", () => {
    const track = buildFaceTrack(
      [observation(1, 100), observation(2, 200)],
      { fps: 10, width: 640, height: 360, frameCount: 40 },
      { window: 1 },
    );
    expect(track.frames).toHaveLength(40);
    expect(track.frames[0]?.box[0]).toBe(100);
    expect(track.frames[15]?.box[0]).toBe(150);
    expect(track.frames[39]?.box[0]).toBe(200);
    expect(track.frames[10]?.detected).toBe(true);
    expect(track.frames[15]?.detected).toBe(false);
    expect(track.frames.every((f) => f.landmarks.length === 68)).toBe(true);
  });

  it("keeps the crop square, even-sized and inside the frame for any detections", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            t: fc.double({ min: 0, max: 10, noNaN: true }),
            x: fc.integer({ min: -50, max: 700 }),
            y: fc.integer({ min: -50, max: 400 }),
            side: fc.integer({ min: 1, max: 500 }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (detections) => {
          const track = buildFaceTrack(
            detections.map((d) => ({ timeSeconds: d.t, box: [d.x, d.y, d.side, d.side], landmarks: [] })),
            { fps: 5, width: 640, height: 360, frameCount: 50 },
          );
          const { x, y, size } = track.crop;
          expect(size % 2).toBe(0);
          expect(x).toBeGreaterThanOrEqual(0);
          expect(y).toBeGreaterThanOrEqual(0);
          expect(x + size).toBeLessThanOrEqual(640);
          expect(y + size).toBeLessThanOrEqual(360);
          expect(track.frames).toHaveLength(50);
        },
      ),
    );
  });
});
