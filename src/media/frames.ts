import { stat } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { abortReason, MediaToolError, runFfmpeg, runFfprobe } from "./ffmpeg.js";
import { inputUrl, MediaUnreadableError, unreadableFrom } from "./probe.js";

/** One decoded video frame as packed RGB24: `data.length === width * height * 3`, rows top to bottom. */
export interface RgbFrame {
  /** Position in the sample, from 0. */
  index: number;
  /**
   * The sample time asked for. The frame is the first decoded at or after it (at most a few frames
   * later, as B-frames are skipped); past the video's last frame, the keyframe before it.
   */
  timeSeconds: number;
  width: number;
  height: number;
  data: Uint8Array;
}

/** Options of `sampleFrames`. */
export interface SampleFramesOptions {
  count: number;
  /** The video's duration, from `probeMedia`. */
  durationSeconds: number;
  /** Frames wider than this are scaled down, keeping the aspect ratio (default 640). */
  maxWidth?: number;
  signal?: AbortSignal;
  /** ffmpeg processes decoding at once (default 2). */
  concurrency?: number;
}

const DEFAULT_MAX_WIDTH = 640;
const DEFAULT_CONCURRENCY = 2;
/** Share of the duration skipped at each end: fades, a hand reaching for the record button. */
const MARGIN = 0.02;
/** A frame larger than this is not a frame we asked for (maxWidth bounds the width, not a freak aspect ratio). */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Times of `count` samples spread evenly over `durationSeconds`, skipping the first and last 2%, increasing. */
export function sampleTimes(count: number, durationSeconds: number): number[] {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`count must be a positive integer, got ${count}`);
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new RangeError(`durationSeconds must be positive, got ${durationSeconds}`);
  }
  const start = durationSeconds * MARGIN;
  const span = durationSeconds * (1 - 2 * MARGIN);
  // The middle of each of `count` equal slices: one sample lands mid-video, and no two coincide.
  return Array.from({ length: count }, (_, i) => start + (span * (i + 0.5)) / count);
}

/**
 * Decodes `count` frames spread across the video, each scaled to at most `maxWidth` wide, in order.
 * Decoding starts at the keyframe before a sample (`-ss` before `-i`), never at the video's start, and
 * samples that share a keyframe are decoded by one ffmpeg run that keeps going from one to the next:
 * a video with a keyframe every 10 s (x264's default) would otherwise decode each stretch again per
 * sample. Runs go `concurrency` at a time and ahead of the consumer, so frames are ready as it asks.
 */
export async function* sampleFrames(file: string, options: SampleFramesOptions): AsyncGenerator<RgbFrame> {
  const times = sampleTimes(options.count, options.durationSeconds);
  const maxWidth = checkedMaxWidth(options.maxWidth);
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const absolute = path.resolve(file);
  await assertFile(absolute);

  const outer = options.signal;
  if (outer?.aborted) throw abortReason(outer);
  // Stops the runs still going when the consumer stops early, the caller aborts, or one run fails.
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(abortReason(outer as AbortSignal));
  outer?.addEventListener("abort", onAbort, { once: true });

  const slots = times.map(() => new Slot<RgbFrame>());
  const workers: Array<Promise<void>> = [];
  try {
    const runs = await planRuns(absolute, times, controller.signal);
    let nextRun = 0;
    const work = async (): Promise<void> => {
      for (let run = runs[nextRun++]; run; run = runs[nextRun++]) {
        await decodeRun(absolute, times, run, maxWidth, controller.signal, (index, image) =>
          slots[index]?.resolve({ index, timeSeconds: times[index] as number, ...image }),
        );
      }
    };
    for (let i = 0; i < Math.min(concurrency, runs.length); i++) {
      workers.push(
        work().catch((error: unknown) => {
          for (const slot of slots) slot.reject(error);
          controller.abort(error);
        }),
      );
    }
    for (const slot of slots) {
      const frame = await slot.promise;
      // Decoded before the abort, but the caller asked to stop: no more frames.
      if (controller.signal.aborted) throw controller.signal.reason;
      yield frame;
    }
  } finally {
    outer?.removeEventListener("abort", onAbort);
    controller.abort(new Error("frame sampling stopped"));
    // Waited for, so no ffmpeg outlives the generator.
    await Promise.allSettled(workers);
  }
}

/** Decodes the first frame at or after `timeSeconds`, scaled to at most `maxWidth` wide. */
export async function extractFrame(
  file: string,
  timeSeconds: number,
  maxWidth = DEFAULT_MAX_WIDTH,
  signal?: AbortSignal,
): Promise<Omit<RgbFrame, "index">> {
  const absolute = path.resolve(file);
  await assertFile(absolute);
  return { timeSeconds, ...(await decodeAt(absolute, timeSeconds, checkedMaxWidth(maxWidth), signal)) };
}

type RgbImage = Omit<RgbFrame, "index" | "timeSeconds">;

/** A promise settled from outside, already marked handled: a frame that fails before its turn is not an unhandled rejection. */
class Slot<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(() => {});
  }
}

function checkedMaxWidth(maxWidth: number | undefined): number {
  const value = maxWidth ?? DEFAULT_MAX_WIDTH;
  if (!Number.isInteger(value) || value < 2)
    throw new RangeError(`maxWidth must be an integer ≥ 2, got ${value}`);
  return value;
}

async function assertFile(absolute: string): Promise<void> {
  // A missing file is Doppel's fault (a lost blob), not the uploader's: the fs error (ENOENT) surfaces
  // as is instead of passing for an unreadable video.
  const stats = await stat(absolute);
  if (!stats.isFile()) throw new Error(`${absolute} is not a regular file`);
}

/**
 * Groups the samples (by index) that share the keyframe before them. ffprobe seeks to each sample the
 * way ffmpeg's `-ss` does and reports the first packet there, the keyframe; only the index is read, so
 * this costs milliseconds. Should the answer not line up, every sample gets a run of its own: slower,
 * never wrong, since each run seeks for itself.
 */
async function planRuns(file: string, times: readonly number[], signal: AbortSignal): Promise<number[][]> {
  const alone = times.map((_, i) => [i]);
  // Samples closer than a frame apart could fall on the same frame and be told apart only by timestamps
  // the PPM output does not carry; 0.1 s is a frame interval at 10 fps.
  const spacing = times.length > 1 ? (times[1] as number) - (times[0] as number) : Number.POSITIVE_INFINITY;
  if (times.length === 1 || spacing < 0.1) return alone;
  let keyframes: string[];
  try {
    let text = "";
    await runFfprobe(
      [
        "-select_streams",
        "v:0",
        "-read_intervals",
        times.map((t) => `${t.toFixed(3)}%+#1`).join(","),
        "-show_entries",
        "packet=pts_time,flags",
        "-print_format",
        "csv=p=0",
        inputUrl(file),
      ],
      {
        signal,
        stdout: new Writable({
          write(chunk: Buffer, _encoding, done) {
            text += chunk.toString("latin1");
            done(text.length > 1024 * 1024 ? new Error("ffprobe printed too much") : null);
          },
        }),
      },
    );
    keyframes = text.split("\n").filter((line) => line.trim() !== "");
  } catch (error) {
    if (signal.aborted) throw error;
    return alone;
  }
  if (keyframes.length !== times.length) return alone;
  const runs: number[][] = [];
  let previous: string | undefined;
  for (const [i, line] of keyframes.entries()) {
    const [pts, flags = ""] = line.split(",");
    const known = pts !== undefined && pts !== "N/A" && flags.startsWith("K");
    const last = runs.at(-1);
    if (known && pts === previous && last) last.push(i);
    else runs.push([i]);
    previous = known ? pts : undefined;
  }
  return runs;
}

/** Decodes the samples `indexes` (sharing a keyframe) in one ffmpeg run, handing each frame over as it arrives. */
async function decodeRun(
  file: string,
  times: readonly number[],
  indexes: readonly number[],
  maxWidth: number,
  signal: AbortSignal,
  deliver: (index: number, image: RgbImage) => void,
): Promise<void> {
  const first = times[indexes[0] as number] as number;
  let delivered = 0;
  if (indexes.length > 1) {
    // After `-ss first`, t counts from `first`. A frame is taken when a sample time falls between the
    // previous decoded frame and it, i.e. the first frame at or after each sample.
    const select = indexes
      .map((i) => {
        const offset = ((times[i] as number) - first).toFixed(4);
        return `gte(t,${offset})*not(gte(prev_pts*TB,${offset}))`;
      })
      .join("+");
    await decode(
      [...NOREF, "-ss", first.toFixed(3), "-i", inputUrl(file), ...output(indexes.length, maxWidth, select)],
      signal,
      (image) => {
        const index = indexes[delivered];
        if (index === undefined) return;
        delivered++;
        deliver(index, image);
      },
    );
  }
  // A single sample, or those past the video's last frame (its audio ran longer).
  for (const index of indexes.slice(delivered)) {
    deliver(index, await decodeAt(file, times[index] as number, maxWidth, signal));
  }
}

/** The first frame at or after `timeSeconds`; past the last frame, the keyframe before it. */
async function decodeAt(
  file: string,
  timeSeconds: number,
  maxWidth: number,
  signal: AbortSignal | undefined,
): Promise<RgbImage> {
  const seek = timeSeconds.toFixed(3);
  let found: RgbImage | undefined;
  const keep = (image: RgbImage): void => {
    found ??= image;
  };
  await decode([...NOREF, "-ss", seek, "-i", inputUrl(file), ...output(1, maxWidth)], signal, keep);
  if (found) return found;
  // Nothing at or after the time: it lies past the last frame (audio outlasting the video) or among
  // trailing non-reference frames. The keyframe at or before it is the nearest picture there is.
  await decode(["-noaccurate_seek", "-ss", seek, "-i", inputUrl(file), ...output(1, maxWidth)], signal, keep);
  if (found) return found;
  throw new MediaUnreadableError(
    `not a readable video: no frame could be decoded at ${timeSeconds.toFixed(2)} s`,
  );
}

/**
 * Skips decoding frames no other frame refers to (B-frames, mostly): about half the work of reaching a
 * sample from its keyframe, and the frame taken is then at most a few frames later than asked.
 */
const NOREF = ["-skip_frame", "noref"];

function output(frames: number, maxWidth: number, select?: string): string[] {
  // Display size (iw·sar) → at most maxWidth wide, both sides even. ffmpeg has already turned a rotated
  // phone video upright (autorotate), so iw/ih here are as displayed.
  const width = `2*trunc(min(${maxWidth},iw*sar)/2)`;
  const height = `max(2,2*round(${width}/dar/2))`;
  const filters = `${select ? `select='${select}',` : ""}scale=w='${width}':h='${height}',setsar=1`;
  return [
    "-map",
    "0:v:0",
    "-vf",
    filters,
    // Passthrough: in constant-frame-rate mode ffmpeg would repeat selected frames to fill the gaps.
    "-vsync",
    "0",
    "-frames:v",
    String(frames),
    "-pix_fmt",
    "rgb24",
    // PPM is RGB24 behind a header that states the size ffmpeg chose: no second probe of the file, no
    // guessing how rotation or a non-square pixel aspect changed it, and frames split themselves.
    "-f",
    "image2pipe",
    "-c:v",
    "ppm",
    "pipe:1",
  ];
}

async function decode(
  args: string[],
  signal: AbortSignal | undefined,
  onImage: (image: RgbImage) => void,
): Promise<void> {
  const images = new PpmSplitter(onImage);
  try {
    await runFfmpeg(args, { signal, stdout: images });
  } catch (error) {
    throw error instanceof MediaToolError ? unreadableFrom(error) : error;
  }
  if (images.partial) throw new Error("ffmpeg's frame output was cut short");
}

const PPM_HEADER = /^P6\s+(\d+)\s+(\d+)\s+255\s/;
/** Longer than any header PPM_HEADER can match for a frame within MAX_FRAME_BYTES. */
const MAX_HEADER = 64;

/** Splits ffmpeg's stream of binary PPM images (`P6\n<w> <h>\n255\n` then RGB24) as it arrives. */
class PpmSplitter extends Writable {
  private header: Buffer = Buffer.alloc(0);
  private image: (RgbImage & { filled: number }) | undefined;

  constructor(private readonly onImage: (image: RgbImage) => void) {
    super();
  }

  /** Whether the output stopped inside an image. */
  get partial(): boolean {
    return this.image !== undefined || this.header.length > 0;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (!this.image) {
        this.header = this.header.length > 0 ? Buffer.concat([this.header, rest]) : rest;
        rest = Buffer.alloc(0);
        const match = PPM_HEADER.exec(this.header.subarray(0, MAX_HEADER).toString("latin1"));
        if (!match) {
          if (this.header.length >= MAX_HEADER) {
            done(new Error("ffmpeg's frame output is not a PPM image"));
            return;
          }
          break;
        }
        const width = Number(match[1]);
        const height = Number(match[2]);
        if (width * height * 3 > MAX_FRAME_BYTES) {
          done(new Error(`a decoded frame of ${width}x${height} exceeds ${MAX_FRAME_BYTES} bytes`));
          return;
        }
        // Its own exact ArrayBuffer: a consumer may transfer `data.buffer` to a worker thread.
        this.image = { width, height, data: new Uint8Array(width * height * 3), filled: 0 };
        rest = this.header.subarray(match[0].length);
        this.header = Buffer.alloc(0);
        continue;
      }
      const image = this.image;
      const take = Math.min(image.data.length - image.filled, rest.length);
      image.data.set(rest.subarray(0, take), image.filled);
      image.filled += take;
      rest = rest.subarray(take);
      if (image.filled === image.data.length) {
        this.image = undefined;
        this.onImage({ width: image.width, height: image.height, data: image.data });
      }
    }
    done();
  }
}
