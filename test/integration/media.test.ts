import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sniff } from "../../src/blobs/sniff.js";
import { locateMediaTools, MediaToolError, runFfmpeg } from "../../src/media/ffmpeg.js";
import { type RgbFrame, sampleFrames, sampleTimes } from "../../src/media/frames.js";
import { MediaUnreadableError, probeMedia } from "../../src/media/probe.js";
import { type Clips, ensureClips } from "../support/clips.js";

let clips: Clips;
let work: string;
/** 8 s at 25 fps, 64x64, each frame showing its number in binary; B-frames, a keyframe every 2 s. */
let timecode: string;

beforeAll(async () => {
  [clips, work] = await Promise.all([ensureClips(), mkdtemp(path.join(os.tmpdir(), "doppel-media-"))]);
  timecode = path.join(work, "timecode.mp4");
  await runFfmpeg([
    "-f",
    "lavfi",
    "-i",
    "color=c=black:s=64x64:r=25:d=8",
    "-vf",
    // Bands, not grey levels: a level would come back off by one after YUV → RGB; black or white cannot.
    "geq=lum='16+219*mod(floor(N/pow(2,floor(X*8/W))),2)':cb=128:cr=128",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-qp",
    "4",
    "-g",
    "50",
    "-bf",
    "3",
    // Every frame differs wholly from the last: without scenecut=0 each would be a keyframe, and
    // samples would never share one (the path where one ffmpeg run serves several samples).
    "-x264-params",
    "b-adapt=0:scenecut=0",
    "-pix_fmt",
    "yuv420p",
    timecode,
  ]);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Which frame of the timecode clip this is: bit b of its number is the b-th of 8 vertical bands, black or white. */
function frameNumber(frame: RgbFrame): number {
  let n = 0;
  const row = Math.floor(frame.height / 2) * frame.width;
  for (let bit = 0; bit < 8; bit++) {
    const x = Math.floor(((bit + 0.5) * frame.width) / 8);
    if ((frame.data[(row + x) * 3] as number) > 127) n += 2 ** bit;
  }
  return n;
}

function range(data: Uint8Array): number {
  let min = 255;
  let max = 0;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return max - min;
}

async function collect(frames: AsyncIterable<RgbFrame>): Promise<RgbFrame[]> {
  const all: RgbFrame[] = [];
  for await (const frame of frames) all.push(frame);
  return all;
}

/** ffmpeg/ffprobe processes that are children of this test process (Linux). */
async function childMediaProcesses(): Promise<string[]> {
  const { stdout } = await promisify(execFile)("ps", [
    "-o",
    "pid=,comm=",
    "--ppid",
    String(process.pid),
  ]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
  return stdout.split("\n").filter((line) => /ff(mpeg|probe)/.test(line));
}

/**
 * An MP4 with its (single) track header's transformation matrix replaced: [a, b, c, d] in the
 * spec's terms (x' = a·x + c·y + tx, y' = b·x + d·y + ty) and the translation [tx, ty].
 */
function withTrackMatrix(mp4: Buffer, [a, b, c, d]: number[], [tx, ty]: number[]): Buffer {
  const copy = Buffer.from(mp4);
  const tkhd = copy.indexOf("tkhd", copy.lastIndexOf("moov"));
  if (tkhd < 0) throw new Error("no tkhd box");
  const version = copy[tkhd + 4];
  // version+flags, then times, track id, reserved and duration (v0: 4-byte fields, v1: 8-byte times
  // and duration), then reserved (8), layer, alternate group, volume, reserved (2 each).
  const matrix = tkhd + 4 + 4 + (version === 1 ? 32 : 20) + 8 + 8;
  const fixed = [a, b, 0, c, d, 0, tx, ty] as number[];
  for (const [i, value] of fixed.entries()) {
    // 16.16 fixed point, except u and v (2.30); both 0 here.
    copy.writeInt32BE(value * 65536, matrix + i * 4);
  }
  copy.writeInt32BE(1 << 30, matrix + 32);
  return copy;
}

async function executable(file: string, mode = 0o755): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, "#!/bin/sh\nexit 0\n");
  await chmod(file, mode);
  return file;
}

describe("locateMediaTools", () => {
  it("uses DOPPEL_FFMPEG and DOPPEL_FFPROBE when they are set", async () => {
    const ffmpeg = await executable(path.join(work, "override", "my-ffmpeg"));
    const ffprobe = await executable(path.join(work, "override", "my-ffprobe"));
    expect(locateMediaTools({ DOPPEL_FFMPEG: ffmpeg, DOPPEL_FFPROBE: ffprobe, PATH: "" })).toEqual({
      ffmpeg,
      ffprobe,
    });
  });

  it("refuses an override that is not an executable file instead of silently using another ffmpeg", () => {
    const missing = path.join(work, "nowhere", "ffmpeg");
    expect(() => locateMediaTools({ DOPPEL_FFMPEG: missing, PATH: "" })).toThrow(
      /DOPPEL_FFMPEG is set to ".*", which is not an executable file/,
    );
  });

  it("takes the first executable on PATH, skipping files that are not executable", async () => {
    const notExecutable = path.join(work, "path-a");
    await executable(path.join(notExecutable, "ffmpeg"), 0o644);
    const found = await executable(path.join(work, "path-b", "ffmpeg"));
    const tools = locateMediaTools({
      PATH: ["relative/dir", notExecutable, path.dirname(found)].join(path.delimiter),
    });
    expect(tools.ffmpeg).toBe(found);
    // No ffprobe on that PATH: the one shipped on npm.
    expect(tools.ffprobe).toContain(`${path.sep}@ffprobe-installer${path.sep}`);
  });

  it("falls back to the binaries shipped on npm, and caches the answer", async () => {
    const empty = await mkdtemp(path.join(work, "empty-path-"));
    const tools = locateMediaTools({ PATH: empty });
    expect(tools.ffmpeg).toContain(`${path.sep}@ffmpeg-installer${path.sep}`);
    expect(tools.ffprobe).toContain(`${path.sep}@ffprobe-installer${path.sep}`);
    expect((await stat(tools.ffmpeg)).isFile()).toBe(true);
    expect(locateMediaTools({ PATH: empty })).toBe(tools);
  });
});

describe("runFfmpeg", () => {
  it("rejects with the exit code and stderr's tail when ffmpeg fails", async () => {
    const failure = await runFfmpeg(["-i", clips.personA, "-vf", "nosuchfilter", "-f", "null", "-"]).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(MediaToolError);
    const error = failure as MediaToolError;
    expect(error.exitCode).not.toBe(0);
    expect(error.stderrTail).toMatch(/No such filter: 'nosuchfilter'/);
    expect(error.message).toMatch(/^ffmpeg exited with code \d+: [\s\S]*No such filter/);
  });

  it("reports progress in seconds of output, increasing up to the end", async () => {
    const seen: number[] = [];
    await runFfmpeg(["-i", clips.personA, "-f", "null", "-"], { onProgress: (s) => seen.push(s) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBeCloseTo(8, 0);
  });

  it("SIGKILLs ffmpeg when the signal aborts, and leaves no process behind", async () => {
    const started = Date.now();
    // -re: reads its (endless) input in real time, so this would run for a minute.
    const run = runFfmpeg(["-re", "-f", "lavfi", "-i", "anullsrc", "-t", "60", "-f", "null", "-"], {
      signal: AbortSignal.timeout(300),
    });
    await expect(run).rejects.toMatchObject({ name: "TimeoutError" });
    expect(Date.now() - started).toBeLessThan(5_000);
    if (process.platform === "linux") expect(await childMediaProcesses()).toEqual([]);
  });

  it("rejects at once, starting nothing, when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("cancelled by the test"));
    await expect(runFfmpeg(["-version"], { signal: controller.signal })).rejects.toThrow(
      "cancelled by the test",
    );
  });

  it("streams stdin to stdout", async () => {
    const out = path.join(work, "piped.mkv");
    await runFfmpeg(["-f", "mp4", "-i", "pipe:0", "-c", "copy", "-f", "matroska", "pipe:1"], {
      stdin: createReadStream(clips.personA),
      stdout: createWriteStream(out),
    });
    const probe = await probeMedia(out);
    expect(probe.formatName).toContain("matroska");
    expect(probe.video).toMatchObject({ codec: "h264", width: 360, height: 640 });
    // Written to a pipe, the file has no duration in its header: probeMedia measures the packets.
    expect(probe.durationSeconds).toBeCloseTo(8, 0);
  });

  it("treats ffmpeg closing stdin early (EPIPE) as normal, and destroys the unread source", async () => {
    const zeros = Buffer.alloc(64 * 1024);
    const endless = Readable.from(
      (function* () {
        for (;;) yield zeros;
      })(),
    );
    // 0.5 s of 8 kHz PCM is 8000 bytes; ffmpeg stops reading there and exits 0.
    await runFfmpeg(
      ["-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-t", "0.5", "-f", "null", "-"],
      {
        stdin: endless,
      },
    );
    await expect.poll(() => endless.destroyed).toBe(true);
  });
});

describe("probeMedia", () => {
  it("describes a portrait H.264 + AAC clip", async () => {
    const probe = await probeMedia(clips.personA);
    expect(probe.formatName.split(",")).toContain("mp4");
    expect(probe.durationSeconds).toBeCloseTo(8, 1);
    expect(probe.sizeBytes).toBe((await stat(clips.personA)).size);
    expect(probe.video).toEqual({
      codec: "h264",
      width: 360,
      height: 640,
      fps: 25,
      rotation: 0,
      pixelFormat: "yuv420p",
    });
    expect(probe.audio).toEqual({ codec: "aac", sampleRate: 24000, channels: 1 });
  });

  it("gives each clip its size, duration and tracks", async () => {
    const [two, short, silent, noFace] = await Promise.all(
      [clips.twoPeople, clips.tooShort, clips.noAudio, clips.noFace].map((f) => probeMedia(f)),
    );
    expect(two?.video).toMatchObject({ width: 640, height: 360 });
    expect(two?.durationSeconds).toBeCloseTo(6, 1);
    expect(short?.durationSeconds).toBeGreaterThan(0.9);
    expect(short?.durationSeconds).toBeLessThan(1.2);
    expect(silent?.audio).toBeNull();
    expect(silent?.video?.codec).toBe("h264");
    expect(silent?.durationSeconds).toBeCloseTo(6, 1);
    expect(noFace?.audio?.codec).toBe("aac");
  });

  it("reports width and height as displayed for a phone video stored sideways (rotated 90° clockwise)", async () => {
    // The track header's matrix written by hand, as an iPhone writes it for portrait: ffmpeg's
    // `-metadata rotate=` means different things across versions (4.1 writes 90 as 270 clockwise).
    const rotated = path.join(work, "rotated.mp4");
    await writeFile(rotated, withTrackMatrix(await readFile(clips.noAudio), [0, 1, -1, 0], [640, 0]));
    const probe = await probeMedia(rotated);
    expect(probe.video).toMatchObject({ rotation: 90, width: 640, height: 360 });

    // ffmpeg turns the frames upright, the same way round: the stored picture turned clockwise.
    const [upright] = await collect(
      sampleFrames(rotated, { count: 1, durationSeconds: probe.durationSeconds }),
    );
    const [stored] = await collect(
      sampleFrames(clips.noAudio, { count: 1, durationSeconds: probe.durationSeconds }),
    );
    expect(upright).toMatchObject({ width: 640, height: 360 });
    const u = upright as RgbFrame;
    const s = stored as RgbFrame;
    let clockwise = 0;
    let counterClockwise = 0;
    for (let y = 0; y < u.height; y += 4) {
      for (let x = 0; x < u.width; x += 4) {
        const here = u.data[(y * u.width + x) * 3] as number;
        clockwise += Math.abs(here - (s.data[((s.height - 1 - x) * s.width + y) * 3] as number));
        counterClockwise += Math.abs(here - (s.data[(x * s.width + (s.width - 1 - y)) * 3] as number));
      }
    }
    expect(clockwise).toBeLessThan(counterClockwise / 4);
  });

  it("rejects a file that only starts like an MP4 with MediaUnreadableError, naming ffprobe's reason but no path", async () => {
    // The clip's contract: magic bytes say MP4, so it gets past upload sniffing.
    expect((await sniff(createReadStream(clips.corrupt))).mime).toBe("video/mp4");
    const failure = await probeMedia(clips.corrupt).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MediaUnreadableError);
    expect((failure as Error).message).toMatch(/^not a readable video: .*moov atom not found/);
    expect((failure as Error).message).not.toContain(path.dirname(clips.corrupt));
  });

  it("rejects bytes that are no media format with MediaUnreadableError", async () => {
    // Named without an extension, as blobs are stored: ffprobe would take a ".txt" for ANSI art.
    const junk = path.join(work, "upload-junk");
    await writeFile(junk, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    await expect(probeMedia(junk)).rejects.toThrow(/^not a readable video: /);
    await expect(probeMedia(junk)).rejects.toBeInstanceOf(MediaUnreadableError);
  });

  it("rejects a missing file with the file system's ENOENT, not as an unreadable upload", async () => {
    const failure = await probeMedia(path.join(work, "missing.mp4")).catch((error: unknown) => error);
    expect(failure).not.toBeInstanceOf(MediaUnreadableError);
    expect(failure).toMatchObject({ code: "ENOENT" });
  });
});

describe("sampleTimes", () => {
  it("spreads any count over any duration, increasing, strictly inside the video and its 2% margins", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0.04, max: 36_000, noNaN: true }),
        (count, duration) => {
          const times = sampleTimes(count, duration);
          expect(times).toHaveLength(count);
          for (const [i, t] of times.entries()) {
            expect(t).toBeGreaterThan(0);
            expect(t).toBeLessThan(duration);
            expect(t).toBeGreaterThanOrEqual(duration * 0.02);
            expect(t).toBeLessThanOrEqual(duration * 0.98);
            if (i > 0) expect(t).toBeGreaterThan(times[i - 1] as number);
          }
        },
      ),
    );
  });

  it("rejects a count or duration that cannot be sampled", () => {
    expect(() => sampleTimes(0, 10)).toThrow(RangeError);
    expect(() => sampleTimes(2.5, 10)).toThrow(RangeError);
    expect(() => sampleTimes(3, 0)).toThrow(RangeError);
    expect(() => sampleTimes(3, Number.NaN)).toThrow(RangeError);
  });
});

describe("sampleFrames", () => {
  it("yields `count` RGB frames of the displayed size, spread across the video", async () => {
    const frames = await collect(sampleFrames(clips.personA, { count: 6, durationSeconds: 8 }));
    expect(frames.map((f) => f.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(frames.map((f) => f.timeSeconds)).toEqual(sampleTimes(6, 8));
    for (const frame of frames) {
      expect(frame).toMatchObject({ width: 360, height: 640 });
      expect(frame.data).toBeInstanceOf(Uint8Array);
      expect(frame.data.length).toBe(360 * 640 * 3);
      // A picture, not a blank: pixel values vary.
      expect(range(frame.data)).toBeGreaterThan(100);
    }
    // The slow zoom shows: the first and last samples differ.
    const first = frames[0]?.data as Uint8Array;
    const last = frames[5]?.data as Uint8Array;
    let differing = 0;
    for (let i = 0; i < first.length; i++)
      if (Math.abs((first[i] as number) - (last[i] as number)) > 16) differing++;
    expect(differing / first.length).toBeGreaterThan(0.05);
  });

  it("scales down to maxWidth, keeping the aspect ratio and even sides", async () => {
    const [frame] = await collect(
      sampleFrames(clips.twoPeople, { count: 1, durationSeconds: 6, maxWidth: 201 }),
    );
    expect(frame).toMatchObject({ width: 200, height: 112 });
    expect(frame?.data.length).toBe(200 * 112 * 3);
  });

  it("takes for each sample the first frame at or after its time (a few frames later at most)", async () => {
    const times = sampleTimes(10, 8);
    const frames = await collect(sampleFrames(timecode, { count: 10, durationSeconds: 8 }));
    const numbers = frames.map(frameNumber);
    for (const [i, n] of numbers.entries()) {
      expect(n / 25).toBeGreaterThanOrEqual((times[i] as number) - 0.001);
      expect(n / 25).toBeLessThanOrEqual((times[i] as number) + 0.2);
    }
  });

  it("keeps frames in order and at their times for any count", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 3 }),
        async (count, concurrency) => {
          const times = sampleTimes(count, 8);
          const frames = await collect(sampleFrames(timecode, { count, durationSeconds: 8, concurrency }));
          expect(frames.map((f) => f.index)).toEqual(times.map((_, i) => i));
          const numbers = frames.map(frameNumber);
          for (const [i, n] of numbers.entries()) {
            expect(n / 25).toBeGreaterThanOrEqual((times[i] as number) - 0.001);
            expect(n / 25).toBeLessThanOrEqual((times[i] as number) + 0.2);
            if (i > 0) expect(n).toBeGreaterThanOrEqual(numbers[i - 1] as number);
          }
        },
      ),
      { numRuns: 8 },
    );
  });

  it("still yields a picture for samples past the last frame (a duration longer than the video)", async () => {
    const frames = await collect(sampleFrames(clips.noAudio, { count: 4, durationSeconds: 12 }));
    expect(frames).toHaveLength(4);
    for (const frame of frames) expect(frame.data.length).toBe(360 * 640 * 3);
  });

  it("rejects an unreadable file with MediaUnreadableError and a missing one with ENOENT", async () => {
    await expect(
      collect(sampleFrames(clips.corrupt, { count: 3, durationSeconds: 5 })),
    ).rejects.toBeInstanceOf(MediaUnreadableError);
    await expect(
      collect(sampleFrames(path.join(work, "missing.mp4"), { count: 3, durationSeconds: 5 })),
    ).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("stops its ffmpeg runs when the consumer stops early or the signal aborts", async () => {
    for await (const frame of sampleFrames(clips.personA, { count: 20, durationSeconds: 8 })) {
      expect(frame.index).toBe(0);
      break;
    }
    if (process.platform === "linux") expect(await childMediaProcesses()).toEqual([]);

    const controller = new AbortController();
    const seen: number[] = [];
    const run = (async () => {
      for await (const frame of sampleFrames(clips.personA, {
        count: 20,
        durationSeconds: 8,
        signal: controller.signal,
      })) {
        seen.push(frame.index);
        controller.abort(new Error("job cancelled"));
      }
    })();
    await expect(run).rejects.toThrow("job cancelled");
    expect(seen).toEqual([0]);
    if (process.platform === "linux") expect(await childMediaProcesses()).toEqual([]);
  });
});
