/**
 * The CPU reference trainer on a real (synthetic) training input: a 6 s testsrc2 video that repeats
 * itself every 90 frames and a face track with plausible landmarks on every frame. Checks the package
 * against its manifest, the crops, masks and coords against idle.mp4 and each other, the loop point
 * against the known period, progress, cancellation (no ffmpeg left behind), bad input, tampering, and
 * the loop search and mask rasteriser as properties.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFfprobeJson } from "../../src/media/ffmpeg.js";
import { inputUrl, probeMedia } from "../../src/media/probe.js";
import {
  type AvatarFrameCoords,
  type AvatarManifest,
  verifyPackage,
} from "../../src/pipeline/avatar-package.js";
import { findLoopPoint, loopBounds } from "../../src/pipeline/trainers/reference/loop-search.js";
import { faceMask } from "../../src/pipeline/trainers/reference/masks.js";
import { createReferenceTrainer, referenceTrainer } from "../../src/pipeline/trainers/reference.trainer.js";
import type { TrainerRun } from "../../src/pipeline/trainers/trainer.js";
import { walkFiles } from "../../src/pipeline/walk-files.js";
import {
  FRAMES,
  faceTrack,
  grayFrames,
  HEIGHT,
  makeInput,
  meanAbsDiff,
  PERIOD,
  pngHeader,
  runOf,
  WIDTH,
} from "../support/training-input.js";

/** Only one multiple of PERIOD (90) fits a 3–10 s loop in the input's 150 frames. */
const CROP = { x: 60, y: 10, size: 210 };

let root: string;
let inputDir: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "doppel-reference-"));
  inputDir = path.join(root, "input");
  await makeInput(inputDir, CROP);
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("reference trainer", () => {
  let outputDir: string;
  let manifest: AvatarManifest;
  const progress: number[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    outputDir = path.join(root, "package");
    await referenceTrainer.train(runOf(inputDir, outputDir, { progress, logs }));
    manifest = JSON.parse(await readFile(path.join(outputDir, "manifest.json"), "utf8")) as AvatarManifest;
  });

  it("writes a package whose manifest checksums every other file", async () => {
    expect(await verifyPackage(outputDir)).toEqual({ ok: true, problems: [] });
    expect(manifest).toMatchObject({
      format: "doppel-avatar",
      version: 1,
      trainer: "reference",
      fps: 25,
      width: 256,
      height: 256,
      source: { width: WIDTH, height: HEIGHT, crop: CROP },
    });
    expect(Date.parse(manifest.createdAt)).not.toBeNaN();
    const onDisk = (await walkFiles(outputDir))
      .filter((e) => e.isFile && e.path !== "manifest.json")
      .map((e) => e.path)
      .sort();
    expect(manifest.files.map((f) => f.path)).toEqual(onDisk);
    expect(onDisk).not.toContain("audio.wav");
    const coordsEntry = manifest.files.find((f) => f.path === "coords.json");
    const coordsBytes = await readFile(path.join(outputDir, "coords.json"));
    expect(coordsEntry).toEqual({
      path: "coords.json",
      size: coordsBytes.length,
      sha256: createHash("sha256").update(coordsBytes).digest("hex"),
    });
  });

  it("has one crop, mask and coords entry per loop frame, and an idle.mp4 of that many frames", async () => {
    const { frameCount, loop } = manifest;
    expect(frameCount).toBe(loop.endFrame - loop.startFrame);
    const crops = await readdir(path.join(outputDir, "crops"));
    const masks = await readdir(path.join(outputDir, "masks"));
    expect(crops).toHaveLength(frameCount);
    expect(masks).toHaveLength(frameCount);
    expect(crops.sort()[0]).toBe("000000.png");
    for (const name of [crops[0], crops[frameCount - 1]]) {
      expect(pngHeader(path.join(outputDir, "crops", name as string))).toEqual({ width: 256, height: 256 });
    }
    const coords = JSON.parse(
      await readFile(path.join(outputDir, "coords.json"), "utf8"),
    ) as AvatarFrameCoords[];
    expect(coords).toHaveLength(frameCount);
    expect(coords.map((c) => c.frame)).toEqual([...Array(frameCount).keys()]);
    expect(coords[0]?.sourceFrame).toBe(loop.startFrame);
    expect(coords.every((c) => c.landmarks.length === 68 && c.box.length === 4)).toBe(true);

    const probe = await probeMedia(path.join(outputDir, "idle.mp4"));
    expect(probe.video).toMatchObject({ codec: "h264", width: WIDTH, height: HEIGHT, fps: 25 });
    expect(probe.video?.pixelFormat).toBe("yuv420p");
    const decoded = await countFrames(path.join(outputDir, "idle.mp4"));
    expect(Math.abs(decoded - frameCount)).toBeLessThanOrEqual(1);
  });

  it("loops at the video's period, with a seam far better than a naive cut", async () => {
    const { loop } = manifest;
    expect(loop.endFrame - loop.startFrame).toBe(PERIOD);
    const thumbs = await grayFrames(path.join(inputDir, "video.mp4"), "scale=32:32:flags=area", 32, 32);
    const chosen = meanAbsDiff(thumbs[loop.startFrame], thumbs[loop.endFrame]);
    const naive = meanAbsDiff(thumbs[0], thumbs[FRAMES - 1]);
    expect(chosen).toBeLessThan(naive / 5);
    // idle.mp4 starts on the chosen source frame, not one early or late.
    const [idleFirst] = await grayFrames(
      path.join(outputDir, "idle.mp4"),
      "scale=32:32:flags=area",
      32,
      32,
      1,
    );
    expect(meanAbsDiff(idleFirst, thumbs[loop.startFrame])).toBeLessThan(2);
    expect(meanAbsDiff(idleFirst, thumbs[loop.startFrame + 1])).toBeGreaterThan(
      2 * meanAbsDiff(idleFirst, thumbs[loop.startFrame]),
    );
    expect(loop.seamScore).toBeLessThan(1);
    expect(logs.some((l) => l.includes("idle loop"))).toBe(true);
  });

  it("cuts crops from the same frames as idle.mp4, and masks the face", async () => {
    const crop = manifest.source.crop;
    const scaleTo256 = `crop=${crop.size}:${crop.size}:${crop.x}:${crop.y},scale=256:256`;
    const [idleFirst] = await grayFrames(path.join(outputDir, "idle.mp4"), scaleTo256, 256, 256, 1);
    const cropAt = async (i: number) =>
      (
        await grayFrames(path.join(outputDir, "crops", `${String(i).padStart(6, "0")}.png`), "null", 256, 256)
      )[0];
    expect(meanAbsDiff(idleFirst, await cropAt(0))).toBeLessThan(4);
    expect(meanAbsDiff(idleFirst, await cropAt(PERIOD / 2))).toBeGreaterThan(8);

    const [mask] = await grayFrames(path.join(outputDir, "masks", "000000.png"), "null", 256, 256);
    const coords = JSON.parse(
      await readFile(path.join(outputDir, "coords.json"), "utf8"),
    ) as AvatarFrameCoords[];
    const nose = coords[0]?.landmarks[30] as [number, number];
    expect(mask?.[Math.round(nose[1]) * 256 + Math.round(nose[0])]).toBe(255);
    expect(mask?.[0]).toBe(0);
    expect(mask?.every((v) => v === 0 || v === 255)).toBe(true);
  });

  it("reports monotonic progress that ends at 1", () => {
    expect(progress.length).toBeGreaterThan(5);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1] as number);
    expect(progress[0]).toBeGreaterThanOrEqual(0);
    expect(progress.at(-1)).toBe(1);
  });

  it("reports tampering: a changed, a missing and an extra file", async () => {
    const copy = path.join(root, "tampered");
    await cp(outputDir, copy, { recursive: true });
    const victim = path.join(copy, "crops", "000003.png");
    const bytes = await readFile(victim);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 0xff;
    await writeFile(victim, bytes);
    await unlink(path.join(copy, "masks", "000001.png"));
    await writeFile(path.join(copy, "notes.txt"), "hello");

    const report = await verifyPackage(copy);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/crops\/000003\.png does not match its sha256/),
        expect.stringMatching(/masks\/000001\.png is listed but missing/),
        expect.stringMatching(/notes\.txt is not listed/),
        expect.stringMatching(/masks has 89 images for 90 frames/),
      ]),
    );
    await rm(path.join(copy, "manifest.json"));
    expect((await verifyPackage(copy)).problems[0]).toMatch(/manifest\.json is missing/);
  });

  it("is idempotent: a second run over the same directory rebuilds the same package", async () => {
    const crops = manifest.files.filter((f) => f.path.startsWith("crops/"));
    const again = createReferenceTrainer({ now: () => new Date("2030-01-01T00:00:00Z") });
    await again.train(runOf(inputDir, outputDir));
    const second = JSON.parse(
      await readFile(path.join(outputDir, "manifest.json"), "utf8"),
    ) as AvatarManifest;
    expect(second.createdAt).toBe("2030-01-01T00:00:00.000Z");
    expect(second.loop).toEqual(manifest.loop);
    expect(second.files.filter((f) => f.path.startsWith("crops/"))).toEqual(crops);
    expect((await verifyPackage(outputDir)).ok).toBe(true);
  });
});

describe("reference trainer input", () => {
  it("pads a crop that sticks out of the frame instead of moving it", async () => {
    const input = path.join(root, "edge-input");
    const crop = { x: -20, y: 10, size: 210 };
    await makeInput(input, crop);
    const output = path.join(root, "edge-package");
    await referenceTrainer.train(runOf(input, output));
    expect((await verifyPackage(output)).ok).toBe(true);
    const [first] = await grayFrames(path.join(output, "crops", "000000.png"), "null", 256, 256);
    // 20 source pixels of black on the left: about 24 crop pixels.
    expect(first?.[128 * 256 + 10]).toBeLessThan(20);
    expect(first?.[128 * 256 + 40]).toBeGreaterThan(40);
  });

  it("rejects an input without faces.json", async () => {
    const input = path.join(root, "no-faces");
    await mkdir(input, { recursive: true });
    await cp(path.join(inputDir, "video.mp4"), path.join(input, "video.mp4"));
    await expect(referenceTrainer.train(runOf(input, path.join(root, "x1")))).rejects.toThrow(
      /training input has no faces\.json/,
    );
  });

  it("rejects a face track of another length than the video", async () => {
    const input = path.join(root, "short-track");
    await mkdir(input, { recursive: true });
    await cp(path.join(inputDir, "video.mp4"), path.join(input, "video.mp4"));
    await writeFile(path.join(input, "faces.json"), JSON.stringify(faceTrack(100, CROP)));
    await expect(referenceTrainer.train(runOf(input, path.join(root, "x2")))).rejects.toThrow(
      /video\.mp4 has 150 frames but faces\.json describes 100/,
    );
    const broken = { ...faceTrack(FRAMES, CROP), frameCount: 149 };
    await writeFile(path.join(input, "faces.json"), JSON.stringify(broken));
    await expect(referenceTrainer.train(runOf(input, path.join(root, "x3")))).rejects.toThrow(
      /frameCount is 149 but frames lists 150/,
    );
  });

  it("does not mix a package into a directory holding foreign files", async () => {
    const output = path.join(root, "occupied");
    await mkdir(output, { recursive: true });
    await writeFile(path.join(output, "keep-me.txt"), "mine");
    await expect(referenceTrainer.train(runOf(inputDir, output))).rejects.toThrow(/keep-me\.txt/);
    expect(readFileSync(path.join(output, "keep-me.txt"), "utf8")).toBe("mine");
  });
});

describe("reference trainer cancellation", () => {
  it("rejects at once when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop now"));
    const started = Date.now();
    await expect(
      referenceTrainer.train({ ...runOf(inputDir, path.join(root, "never")), signal: controller.signal }),
    ).rejects.toThrow("stop now");
    expect(Date.now() - started).toBeLessThan(200);
  });

  // Aborted once while thumbnails are decoded and once while idle.mp4, crops and masks are encoded.
  it.each([
    ["the loop search", 0.1],
    ["encoding", 0.45],
  ])("stops promptly during %s and leaves no ffmpeg behind", async (_phase, at) => {
    const controller = new AbortController();
    let abortedAt = 0;
    const run: TrainerRun = {
      ...runOf(inputDir, path.join(root, `aborted-${at}`)),
      signal: controller.signal,
      progress: (fraction) => {
        if (fraction < at || abortedAt) return;
        abortedAt = -1;
        // Abort once the phase's ffmpeg is running, so the kill path is what gets tested.
        void waitFor(() => ffmpegChildren().length > 0).then(() => {
          abortedAt = Date.now();
          controller.abort(new Error("lease lost"));
        });
      },
    };
    await expect(referenceTrainer.train(run)).rejects.toThrow("lease lost");
    expect(abortedAt).toBeGreaterThan(0);
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(ffmpegChildren()).toEqual([]);
  });
});

describe("loop search", () => {
  it("finds the valid pair of least difference for any difference matrix", () => {
    const input = fc
      .record({ n: fc.integer({ min: 2, max: 40 }), a: fc.nat(50), b: fc.nat(50) })
      .chain(({ n, a, b }) =>
        fc.record({
          n: fc.constant(n),
          min: fc.constant(Math.min(a, b)),
          max: fc.constant(Math.max(a, b)),
          matrix: fc.array(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: n, maxLength: n }), {
            minLength: n,
            maxLength: n,
          }),
          cutShort: fc.boolean(),
        }),
      );
    fc.assert(
      fc.property(input, ({ n, min, max, matrix, cutShort }) => {
        const bounds = loopBounds(n, min, max);
        expect(bounds.minLength).toBeGreaterThanOrEqual(1);
        expect(bounds.minLength).toBeLessThanOrEqual(bounds.maxLength);
        expect(bounds.maxLength).toBeLessThanOrEqual(n - 1);
        const at = (a: number, b: number) => matrix[a]?.[b] as number;
        // A distance that gives up at the ceiling, as the real one does, must not change the answer.
        const distance = cutShort ? (a: number, b: number, c: number) => Math.min(at(a, b), c) : at;
        const found = findLoopPoint(n, distance, bounds);
        const length = found.end - found.start;
        expect(found.start).toBeGreaterThanOrEqual(0);
        expect(found.end).toBeLessThan(n);
        expect(length).toBeGreaterThanOrEqual(bounds.minLength);
        expect(length).toBeLessThanOrEqual(bounds.maxLength);
        expect(found.score).toBe(at(found.start, found.end));
        let best = Number.POSITIVE_INFINITY;
        for (let s = 0; s < n; s++) {
          for (let e = s + bounds.minLength; e <= Math.min(n - 1, s + bounds.maxLength); e++) {
            best = Math.min(best, at(s, e));
          }
        }
        expect(found.score).toBe(best);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a video too short to loop", () => {
    expect(() => loopBounds(1, 75, 250)).toThrow(/at least 2 frames/);
  });
});

describe("face mask", () => {
  it("fills the convex hull of the points: its area within a pixel of the outline", () => {
    // Inside the square, so the hull needs no clipping to compare areas.
    const coordinate = fc.double({ min: 0, max: 64, noNaN: true });
    const point = fc.tuple(coordinate, coordinate);
    fc.assert(
      fc.property(fc.array(point, { minLength: 3, maxLength: 30 }), (points) => {
        const size = 64;
        const mask = faceMask(points, size);
        const hull = hullOf(points);
        const area = Math.abs(
          hull.reduce((sum, [x0, y0], i) => {
            const [x1, y1] = hull[(i + 1) % hull.length] as readonly [number, number];
            return sum + x0 * y1 - x1 * y0;
          }, 0) / 2,
        );
        const perimeter = hull.reduce((sum, [x0, y0], i) => {
          const [x1, y1] = hull[(i + 1) % hull.length] as readonly [number, number];
          return sum + Math.hypot(x1 - x0, y1 - y0);
        }, 0);
        const filled = mask.reduce((sum, v) => sum + (v === 255 ? 1 : 0), 0);
        expect(mask.every((v) => v === 0 || v === 255)).toBe(true);
        expect(Math.abs(filled - area)).toBeLessThanOrEqual(perimeter + 4);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------

async function countFrames(file: string): Promise<number> {
  const answer = (await runFfprobeJson([
    "-select_streams",
    "v:0",
    "-count_frames",
    "-show_entries",
    "stream=nb_read_frames",
    inputUrl(file),
  ])) as { streams: Array<{ nb_read_frames: string }> };
  return Number(answer.streams[0]?.nb_read_frames);
}

/** Process ids of ffmpeg processes whose parent is this test process (Linux /proc). */
function ffmpegChildren(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid …"; comm may hold spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "ffmpeg" && ppid === process.pid) found.push(Number(entry));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return found;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function hullOf(points: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const sorted = points.map((p): [number, number] => [p[0], p[1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: [number, number], a: [number, number], b: [number, number]) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const chain = (list: Array<[number, number]>) => {
    const out: Array<[number, number]> = [];
    for (const p of list) {
      while (
        out.length >= 2 &&
        cross(out[out.length - 2] as [number, number], out[out.length - 1] as [number, number], p) <= 0
      )
        out.pop();
      out.push(p);
    }
    out.pop();
    return out;
  };
  return [...chain(sorted), ...chain([...sorted].reverse())];
}
