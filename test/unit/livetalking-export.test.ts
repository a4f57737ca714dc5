/**
 * The pure parts of the LiveTalking export: a coords.json entry to a coords.pkl tuple (crop to frame
 * pixels, jaw, pads, whole pixels, clamping), the crop-and-resize of face images, and the pickle
 * writer's long integers (the examples of CPython's `pickle.encode_long` docstring). Python itself
 * checks the pickles in test/integration/livetalking-export.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GENAVATAR_PADS, liveTalkingCoord } from "../../src/export/livetalking-export.js";
import { encodeLong, pickleIntTuples } from "../../src/export/pickle.js";
import { cropAndResize } from "../../src/export/resize.js";
import type { AvatarFrameCoords } from "../../src/pipeline/avatar-package.js";

/** 256-pixel crops of a 512-pixel square at (100, -50) of a 1920×1080 frame: one crop pixel is two frame pixels. */
const MANIFEST = {
  width: 256,
  height: 256,
  source: { width: 1920, height: 1080, crop: { x: 100, y: -50, size: 512 } },
};

function entry(box: AvatarFrameCoords["box"], jaw: Array<[number, number]> = []): AvatarFrameCoords {
  // 68 landmarks: the jaw (0–16) as given, padded with the box's centre; the rest at the centre too.
  const centre: [number, number] = [box[0] + box[2] / 2, box[1] + box[3] / 2];
  const landmarks = Array.from({ length: 68 }, (_, i) => jaw[i] ?? centre);
  return { frame: 7, sourceFrame: 40, box, landmarks };
}

describe("liveTalkingCoord", () => {
  it("maps the box from crop to frame pixels as (y1, y2, x1, x2), padded 10 below", () => {
    // x: 100 + 2·64 = 228 … 100 + 2·164 = 428; y: −50 + 2·32 = 14 … −50 + 2·152 = 254, + 10.
    expect(liveTalkingCoord(entry([64, 32, 100, 120]), MANIFEST)).toEqual([14, 264, 228, 428]);
    expect(GENAVATAR_PADS).toEqual({ top: 0, bottom: 10, left: 0, right: 0 });
  });

  it("grows the box to hold the jaw line, and only landmarks 0–16", () => {
    const chin: [number, number] = [114, 170];
    const withChin = entry([64, 32, 100, 120], [[64, 100], chin]);
    // The chin at crop y 170 is frame y 290; the box's own bottom was 254.
    expect(liveTalkingCoord(withChin, MANIFEST)).toEqual([14, 300, 228, 428]);
    const mouthBelow = entry([64, 32, 100, 120]);
    mouthBelow.landmarks[60] = [114, 200];
    expect(liveTalkingCoord(mouthBelow, MANIFEST)).toEqual([14, 264, 228, 428]);
  });

  it("widens to whole pixels, but not for coords.json's rounding", () => {
    // 64.3 → 228.6 → 228; 164.2 → 428.4 → 429. 63.999 → 227.998: on 228 within 0.01 crop pixels.
    expect(
      liveTalkingCoord(entry([64.3, 32, 99.9, 120]), MANIFEST, { ...GENAVATAR_PADS, bottom: 0 }),
    ).toEqual([14, 254, 228, 429]);
    expect(liveTalkingCoord(entry([63.999, 32, 100.002, 120]), MANIFEST)[2]).toBe(228);
    expect(liveTalkingCoord(entry([63.999, 32, 100.002, 120]), MANIFEST)[3]).toBe(428);
  });

  it("applies pads and clamps to the frame", () => {
    const pads = { top: 20, bottom: 5, left: 300, right: 2000 };
    // x1 = 228 − 300 → 0, x2 = 428 + 2000 → 1920; y1 = 14 − 20 → 0; y2 = 254 + 5.
    expect(liveTalkingCoord(entry([64, 32, 100, 120]), MANIFEST, pads)).toEqual([0, 259, 0, 1920]);
  });

  it("refuses a box outside the frame or one that is not numbers", () => {
    expect(() => liveTalkingCoord(entry([-200, 32, 50, 120]), MANIFEST)).toThrow(
      /frame 7: the face box lies outside the 1920x1080 frame/,
    );
    expect(() => liveTalkingCoord(entry([Number.NaN, 32, 50, 120]), MANIFEST)).toThrow(/not a number/);
  });
});

describe("cropAndResize", () => {
  /** A width×height RGB frame whose channels all hold `value(x, y)`. */
  const frameOf = (width: number, height: number, value: (x: number, y: number) => number) => {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data.fill(value(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
    return data;
  };
  const gray = (rgb: Uint8Array) => Array.from(rgb.filter((_, i) => i % 3 === 0));

  it("returns the box itself at its own size", () => {
    const frame = frameOf(6, 5, (x, y) => 10 * y + x);
    const out = cropAndResize(frame, 6, { x1: 1, y1: 2, x2: 4, y2: 5 }, 3, 3);
    expect(gray(out)).toEqual([21, 22, 23, 31, 32, 33, 41, 42, 43]);
  });

  it("halves as cv2.INTER_LINEAR does: each pixel the mean of a 2×2 block", () => {
    const frame = frameOf(4, 2, (x, y) => ([0, 100, 200, 50][x] as number) + 20 * y);
    expect(gray(cropAndResize(frame, 4, { x1: 0, y1: 0, x2: 4, y2: 2 }, 2, 1))).toEqual([60, 135]);
  });

  it("never reads outside the box", () => {
    fc.assert(
      fc.property(
        fc.record({
          x1: fc.nat(20),
          y1: fc.nat(20),
          w: fc.integer({ min: 1, max: 20 }),
          h: fc.integer({ min: 1, max: 20 }),
        }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        ({ x1, y1, w, h }, width, height) => {
          const box = { x1, y1, x2: x1 + w, y2: y1 + h };
          const inside = (x: number, y: number) => x >= box.x1 && x < box.x2 && y >= box.y1 && y < box.y2;
          const frame = frameOf(41, 41, (x, y) => (inside(x, y) ? 7 : 255));
          expect(gray(cropAndResize(frame, 41, box, width, height)).every((v) => v === 7)).toBe(true);
        },
      ),
    );
  });
});

describe("pickle writer", () => {
  it("encodes longs as pickle.encode_long", () => {
    const hex = (n: bigint) => Buffer.from(encodeLong(n)).toString("hex");
    expect(hex(0n)).toBe("");
    expect(hex(255n)).toBe("ff00");
    expect(hex(32767n)).toBe("ff7f");
    expect(hex(-256n)).toBe("00ff");
    expect(hex(-32768n)).toBe("0080");
    expect(hex(-128n)).toBe("80");
    expect(hex(127n)).toBe("7f");
  });

  it("writes the bytes pickle.dumps(…, 2) writes, less the memo", () => {
    // pickletools.optimize(pickle.dumps([(1, 2, 300, -5), (2**40, -2**40, 0, 255)], 2))
    expect(
      pickleIntTuples([
        [1, 2, 300, -5],
        [2n ** 40n, -(2 ** 40), 0, 255],
      ]).toString("hex"),
    ).toBe("80025d28284b014b024d2c014afbffffff74288a060000000000018a060000000000ff4b004bff74652e");
    // [] and [()]: no APPENDS for an empty list, APPEND for a single item.
    expect(pickleIntTuples([]).toString("hex")).toBe("80025d2e");
    expect(pickleIntTuples([[]]).toString("hex")).toBe("80025d29612e");
  });
});
