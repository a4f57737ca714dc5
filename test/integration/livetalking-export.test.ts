/**
 * The LiveTalking export on real packages of the reference trainer (the synthetic training input of
 * test/support/training-input.ts). Python's own `pickle` loads coords.pkl, and the files are found the
 * way LiveTalking's `load_avatar` finds them (glob, sorted by the number in the name); the face images
 * must be the full images cut at those coords, and the coords the package's face box in frame pixels.
 * The pickle writer is checked against Python for random lists of int tuples, byte for byte.
 */
import { spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  exportLiveTalking,
  type LiveTalkingCoord,
  type LiveTalkingExport,
} from "../../src/export/livetalking-export.js";
import { type PickleInt, pickleIntTuples } from "../../src/export/pickle.js";
import type { AvatarFrameCoords, AvatarManifest } from "../../src/pipeline/avatar-package.js";
import { referenceTrainer } from "../../src/pipeline/trainers/reference.trainer.js";
import {
  grayFrames,
  HEIGHT,
  makeInput,
  meanAbsDiff,
  PERIOD,
  runOf,
  WIDTH,
} from "../support/training-input.js";

/** What LiveTalking's load_avatar (avatars/wav2lip_avatar.py) does to find and read an avatar, less cv2. */
const LOAD_AVATAR = String.raw`
import glob, json, os, pickle, struct, sys
avatar_path = sys.argv[1]
with open(os.path.join(avatar_path, "coords.pkl"), "rb") as f:
    coord_list_cycle = pickle.load(f)
def image_list(folder):
    found = glob.glob(os.path.join(avatar_path, folder, "*.[jpJP][pnPN]*[gG]"))
    return sorted(found, key=lambda x: int(os.path.splitext(os.path.basename(x))[0]))
def png_size(file):
    with open(file, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return list(struct.unpack(">II", head[16:24]))
full = image_list("full_imgs")
face = image_list("face_imgs")
print(json.dumps({
    "listType": type(coord_list_cycle).__name__,
    "entries": [
        {"type": type(c).__name__, "itemTypes": [type(v).__name__ for v in c], "values": list(c)}
        for c in coord_list_cycle
    ],
    "full": [os.path.basename(p) for p in full],
    "face": [os.path.basename(p) for p in face],
    "fullSizes": sorted({tuple(png_size(p)) for p in full}),
    "faceSizes": sorted({tuple(png_size(p)) for p in face}),
}))
`;

interface Loaded {
  listType: string;
  entries: Array<{ type: string; itemTypes: string[]; values: number[] }>;
  full: string[];
  face: string[];
  fullSizes: Array<[number, number]>;
  faceSizes: Array<[number, number]>;
}

function python(args: readonly string[], input?: Buffer): string {
  const result = spawnSync("python3", args, { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

const CROP = { x: 60, y: 10, size: 210 };
/** Sticks out of the frame on the left: the face box there must be clamped to column 0. */
const EDGE_CROP = { x: -80, y: 10, size: 210 };

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "doppel-livetalking-"));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** A reference-trainer package of the synthetic input with `crop`, in `root/name`. */
async function makePackage(name: string, crop: typeof CROP): Promise<string> {
  const input = path.join(root, `${name}-input`);
  await makeInput(input, crop);
  const output = path.join(root, name);
  await referenceTrainer.train(runOf(input, output));
  return output;
}

async function readPackage(dir: string): Promise<{ manifest: AvatarManifest; coords: AvatarFrameCoords[] }> {
  return {
    manifest: JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as AvatarManifest,
    coords: JSON.parse(await readFile(path.join(dir, "coords.json"), "utf8")) as AvatarFrameCoords[],
  };
}

const name = (i: number) => `${String(i).padStart(8, "0")}.png`;

/** Frame `i` of the export: the full image cut at its coords and scaled, and the face image, in gray. */
async function faceAndCut(dir: string, i: number, [y1, y2, x1, x2]: LiveTalkingCoord, size: number) {
  const cut = `crop=${x2 - x1}:${y2 - y1}:${x1}:${y1},scale=${size}:${size}:flags=bilinear`;
  const [fromFull] = await grayFrames(path.join(dir, "full_imgs", name(i)), cut, size, size);
  const [face] = await grayFrames(path.join(dir, "face_imgs", name(i)), "null", size, size);
  return { fromFull, face };
}

describe.each([
  ["a face inside the frame", "inside", CROP],
  ["a crop that sticks out of the frame", "edge", EDGE_CROP],
])("LiveTalking export of %s", (_title, label, crop) => {
  let packageDir: string;
  let outDir: string;
  let manifest: AvatarManifest;
  let coords: AvatarFrameCoords[];
  let result: LiveTalkingExport;
  let loaded: Loaded;
  const progress: number[] = [];

  beforeAll(async () => {
    packageDir = await makePackage(`${label}-package`, crop);
    ({ manifest, coords } = await readPackage(packageDir));
    outDir = path.join(root, `${label}-livetalking`, "avatar");
    result = await exportLiveTalking(packageDir, outDir, { onProgress: (f) => progress.push(f) });
    loaded = JSON.parse(python(["-c", LOAD_AVATAR, outDir])) as Loaded;
  });

  it("writes as many full images, face images and coords as the package has frames", async () => {
    const { frameCount } = manifest;
    expect(frameCount).toBe(PERIOD);
    expect(result.frameCount).toBe(frameCount);
    expect(loaded.listType).toBe("list");
    expect(loaded.entries).toHaveLength(frameCount);
    expect(loaded.full).toEqual(Array.from({ length: frameCount }, (_, i) => name(i)));
    expect(loaded.face).toEqual(loaded.full);
    expect((await readdir(outDir)).sort()).toEqual(["coords.pkl", "face_imgs", "full_imgs"]);
  });

  it("pickles (y1, y2, x1, x2) tuples of Python ints inside the full image", () => {
    expect(loaded.fullSizes).toEqual([[WIDTH, HEIGHT]]);
    for (const entry of loaded.entries) {
      expect(entry.type).toBe("tuple");
      expect(entry.itemTypes).toEqual(["int", "int", "int", "int"]);
      const [y1, y2, x1, x2] = entry.values as [number, number, number, number];
      expect(0 <= y1 && y1 < y2 && y2 <= HEIGHT).toBe(true);
      expect(0 <= x1 && x1 < x2 && x2 <= WIDTH).toBe(true);
    }
    expect(loaded.entries.map((e) => e.values)).toEqual(result.coords);
  });

  it("maps each frame's face box (and jaw) from crop to frame pixels, padded 10 px below", () => {
    for (const [i, entry] of coords.entries()) {
      // The synthetic face track (test/support/training-input.ts): a 120×140 box centred on
      // (crop centre + 6·sin(2π·frame/PERIOD), 120) whose jaw reaches y = 190.
      const cx = crop.x + crop.size / 2 + 6 * Math.sin((2 * Math.PI * entry.sourceFrame) / PERIOD);
      const [y1, y2, x1, x2] = result.coords[i] as LiveTalkingCoord;
      expect(Math.abs(y1 - 36)).toBeLessThanOrEqual(1);
      expect(Math.abs(y2 - 200)).toBeLessThanOrEqual(1);
      expect(Math.abs(x1 - Math.max(0, cx - 60))).toBeLessThanOrEqual(1);
      expect(Math.abs(x2 - (cx + 60))).toBeLessThanOrEqual(1);
    }
    if (crop.x < 0) expect(result.coords.every(([, , x1]) => x1 === 0)).toBe(true);
  });

  it("cuts each face image out of its full image at its coords, at 256×256", async () => {
    expect(loaded.faceSizes).toEqual([[256, 256]]);
    for (const i of [0, PERIOD / 3, PERIOD - 1]) {
      const box = result.coords[i] as LiveTalkingCoord;
      const { fromFull, face } = await faceAndCut(outDir, i, box, 256);
      // The same region scaled by ffmpeg's bilinear scaler: equal but for rounding (about 0.05).
      expect(meanAbsDiff(fromFull, face)).toBeLessThan(1);
      // Two pixels off is another picture (about 8 where the pattern is busy): the check can tell a wrong box.
      const [y1, y2, x1, x2] = box;
      const shifted = await faceAndCut(outDir, i, [y1 + 2, y2 + 2, x1 + 2, x2 + 2], 256);
      expect(meanAbsDiff(shifted.fromFull, face)).toBeGreaterThan(2);
    }
  });

  it("agrees with the package: full images are idle.mp4's frames, faces its crops at the same box", async () => {
    const idle = await grayFrames(path.join(packageDir, "idle.mp4"), "null", WIDTH, HEIGHT);
    expect(idle).toHaveLength(manifest.frameCount);
    for (const i of [0, PERIOD - 1]) {
      const [full] = await grayFrames(path.join(outDir, "full_imgs", name(i)), "null", WIDTH, HEIGHT);
      expect(meanAbsDiff(full, idle[i])).toBeLessThan(1);
    }
    // The same box in crop pixels, cut out of the package's crop: the coordinate mapping, inverted.
    const i = PERIOD / 2;
    const [y1, y2, x1, x2] = result.coords[i] as LiveTalkingCoord;
    const scale = manifest.width / crop.size;
    const toCrop = (v: number, origin: number) => Math.round((v - origin) * scale);
    const [cx1, cx2, cy1, cy2] = [
      toCrop(x1, crop.x),
      toCrop(x2, crop.x),
      toCrop(y1, crop.y),
      toCrop(y2, crop.y),
    ];
    const cut = `crop=${cx2 - cx1}:${cy2 - cy1}:${cx1}:${cy1},scale=256:256:flags=bilinear`;
    const [fromCrop] = await grayFrames(
      path.join(packageDir, "crops", `${String(i).padStart(6, "0")}.png`),
      cut,
      256,
      256,
    );
    const [face] = await grayFrames(path.join(outDir, "face_imgs", name(i)), "null", 256, 256);
    // About 1.5 (the crop was scaled once already); one crop pixel off gives about 3.8.
    expect(meanAbsDiff(fromCrop, face)).toBeLessThan(2.5);
  });

  it("reports progress that only grows and ends at 1", () => {
    expect(progress.length).toBeGreaterThan(10);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1] as number);
    expect(progress.at(-1)).toBe(1);
  });
});

describe("LiveTalking export, refusals", () => {
  let packageDir: string;
  beforeAll(async () => {
    packageDir = await makePackage("refusals-package", CROP);
  });

  it("writes a face size of its own choosing (96 for the original Wav2Lip)", async () => {
    const out = path.join(root, "size-96");
    const result = await exportLiveTalking(packageDir, out, { faceSize: 96 });
    const loaded = JSON.parse(python(["-c", LOAD_AVATAR, out])) as Loaded;
    expect(loaded.faceSizes).toEqual([[96, 96]]);
    expect(result.faceSize).toBe(96);
  });

  it("refuses a directory that holds anything, and leaves it alone", async () => {
    const out = path.join(root, "occupied");
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, "keep-me.txt"), "mine");
    await expect(exportLiveTalking(packageDir, out)).rejects.toThrow(/is not empty \(keep-me\.txt\)/);
    expect(await readdir(out)).toEqual(["keep-me.txt"]);
  });

  it("refuses a tampered package before writing anything", async () => {
    const copy = path.join(root, "tampered");
    await cp(packageDir, copy, { recursive: true });
    await writeFile(path.join(copy, "coords.json"), "[]\n");
    const out = path.join(root, "from-tampered");
    await expect(exportLiveTalking(copy, out)).rejects.toThrow(/not a valid avatar package: coords\.json/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it("stops when aborted and removes what it wrote", async () => {
    const out = path.join(root, "aborted", "avatar");
    const controller = new AbortController();
    const run = exportLiveTalking(packageDir, out, {
      signal: controller.signal,
      onProgress: (f) => {
        if (f > 0.3) controller.abort(new Error("stop the export"));
      },
    });
    await expect(run).rejects.toThrow("stop the export");
    await expect(stat(path.join(root, "aborted"))).rejects.toThrow(/ENOENT/);
  });
});

describe("pickle writer", () => {
  /** Loads each pickle with Python, checks it holds a list of tuples of ints, and dumps it again optimised. */
  const CHECK = `
import json, pickle, pickletools, sys
data = sys.stdin.buffer.read()
value = pickle.loads(data)
assert type(value) is list, type(value)
assert all(type(t) is tuple and all(type(v) is int for v in t) for t in value)
print(json.dumps({
    "values": [[str(v) for v in t] for t in value],
    "sameBytes": pickletools.optimize(pickle.dumps(value, 2)) == data,
}))
`;
  const load = (bytes: Buffer) =>
    JSON.parse(python(["-c", CHECK], bytes)) as { values: string[][]; sameBytes: boolean };

  it("round-trips random lists of int tuples through Python, byte for byte as pickle.dumps", () => {
    const int = fc.oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: -70_000, max: 70_000 }),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.bigInt({ min: -(2n ** 160n), max: 2n ** 160n }),
      fc.constantFrom<PickleInt>(
        0,
        255,
        256,
        65535,
        65536,
        -1,
        2 ** 31 - 1,
        2 ** 31,
        -(2 ** 31),
        -(2 ** 31) - 1,
      ),
    );
    fc.assert(
      fc.property(fc.array(fc.array(int, { maxLength: 6 }), { maxLength: 12 }), (tuples) => {
        const loaded = load(pickleIntTuples(tuples));
        expect(loaded.values).toEqual(tuples.map((t) => t.map(String)));
        expect(loaded.sameBytes).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("batches appends like Python past 1000 entries", () => {
    for (const length of [1000, 1001, 2500]) {
      const tuples = Array.from({ length }, (_, i) => [i, -i, i * 70_000, 4] as const);
      const loaded = load(pickleIntTuples(tuples));
      expect(loaded.values).toHaveLength(length);
      expect(loaded.sameBytes).toBe(true);
    }
  });

  it("refuses what is not an integer", () => {
    expect(() => pickleIntTuples([[1.5]])).toThrow(TypeError);
    expect(() => pickleIntTuples([[Number.MAX_SAFE_INTEGER + 1]])).toThrow(TypeError);
    expect(() => pickleIntTuples([[Number.NaN]])).toThrow(TypeError);
  });
});
