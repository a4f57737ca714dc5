import { stat } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { abortReason, MediaToolError, runFfprobe, runFfprobeJson } from "./ffmpeg.js";

/** What a media file holds, as the pipeline's checks need it. */
export interface MediaProbe {
  /** ffprobe's demuxer names, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  formatName: string;
  durationSeconds: number;
  sizeBytes: number;
  video: {
    codec: string;
    /** As displayed: a phone's portrait video stored landscape with a 90° rotation reports portrait. */
    width: number;
    height: number;
    fps: number;
    /** Clockwise degrees the player turns the picture: 0, 90, 180 or 270. */
    rotation: number;
    pixelFormat: string;
  } | null;
  audio: { codec: string; sampleRate: number; channels: number } | null;
}

/** The file's content is not media ffprobe can read; the message is fit to show to the uploader. */
export class MediaUnreadableError extends Error {
  override readonly name = "MediaUnreadableError";
}

/** ffprobe reads headers only; a probe that takes longer is stuck (a FIFO, a pathological file), not slow. */
const PROBE_TIMEOUT_MS = 30_000;
/** The packet scan that measures a file without a duration in its header reads the whole file. */
const SCAN_TIMEOUT_MS = 120_000;

interface FfprobeStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string | undefined>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number | string }>;
}

interface FfprobeAnswer {
  format?: { format_name?: string; duration?: string };
  streams?: FfprobeStream[];
}

/** Probes a local media file's container, video and audio; rejects with `MediaUnreadableError` if it is not media. */
export async function probeMedia(file: string, options: { signal?: AbortSignal } = {}): Promise<MediaProbe> {
  const absolute = path.resolve(file);
  // A missing file is Doppel's fault (a lost blob), not the uploader's: it surfaces as the fs error
  // (ENOENT) so the task is retried rather than the video rejected.
  const stats = await stat(absolute);
  if (!stats.isFile()) throw new Error(`${absolute} is not a regular file`);

  const answer = (await withTimeout(options.signal, PROBE_TIMEOUT_MS, (signal) =>
    runFfprobeJson(["-show_format", "-show_streams", inputUrl(absolute)], signal),
  )) as FfprobeAnswer | null;

  const streams = answer?.streams ?? [];
  // Cover art in an MP4 or MP3 is a one-frame "video" stream; it is not the video.
  const videoStream = streams.find((s) => s.codec_type === "video" && s.disposition?.attached_pic !== 1);
  const audioStream = streams.find((s) => s.codec_type === "audio");
  if (!videoStream && !audioStream)
    throw new MediaUnreadableError("not a readable video: it has no audio or video");

  let durationSeconds =
    positive(answer?.format?.duration) ?? Math.max(0, ...streams.map((s) => positive(s.duration) ?? 0));
  if (durationSeconds === 0) {
    // A WebM written by a browser's MediaRecorder (or any live stream) has no duration in its header.
    const scanned = videoStream ?? audioStream;
    durationSeconds = await withTimeout(options.signal, SCAN_TIMEOUT_MS, (signal) =>
      scanDuration(absolute, scanned?.index ?? 0, signal),
    );
  }

  return {
    formatName: answer?.format?.format_name ?? "",
    durationSeconds,
    sizeBytes: stats.size,
    video: videoStream ? describeVideo(videoStream) : null,
    audio: audioStream
      ? {
          codec: audioStream.codec_name ?? "",
          sampleRate: positive(audioStream.sample_rate) ?? 0,
          channels: audioStream.channels ?? 0,
        }
      : null,
  };
}

/**
 * The file as an ffmpeg input URL. The `file:` protocol makes a name like `-x.mp4` or `http:x.mp4` a
 * local file, never an option or a network fetch.
 */
export function inputUrl(absolutePath: string): string {
  return `file:${absolutePath}`;
}

function describeVideo(stream: FfprobeStream): NonNullable<MediaProbe["video"]> {
  const rotation = rotationOf(stream);
  const codedWidth = stream.width ?? 0;
  const codedHeight = stream.height ?? 0;
  const sideways = rotation === 90 || rotation === 270;
  return {
    codec: stream.codec_name ?? "",
    width: sideways ? codedHeight : codedWidth,
    height: sideways ? codedWidth : codedHeight,
    fps: rate(stream.avg_frame_rate) || rate(stream.r_frame_rate),
    rotation,
    pixelFormat: stream.pix_fmt ?? "",
  };
}

/** Clockwise display rotation in degrees (0, 90, 180 or 270). */
function rotationOf(stream: FfprobeStream): number {
  // ffprobe 5+ reports only the display matrix, whose angle is counter-clockwise (-90 for a phone held
  // upright); older builds also give the `rotate` tag, which is clockwise.
  const matrix = stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  const tag = stream.tags?.rotate;
  const degrees = matrix !== undefined ? -Number(matrix) : tag !== undefined ? Number(tag) : 0;
  if (!Number.isFinite(degrees)) return 0;
  return (((Math.round(degrees / 90) * 90) % 360) + 360) % 360;
}

/** "30000/1001" → 29.97; "0/0" (unknown) → 0. */
function rate(fraction: string | undefined): number {
  if (!fraction) return 0;
  const [num, den = "1"] = fraction.split("/");
  const value = Number(num) / Number(den);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** The end of the last packet of one stream, read from every packet header (demuxing only, no decoding). */
async function scanDuration(file: string, streamIndex: number, signal: AbortSignal): Promise<number> {
  let end = 0;
  let partial = "";
  const take = (line: string): void => {
    const [pts, duration] = line.split(",").map(Number);
    if (pts !== undefined && Number.isFinite(pts))
      end = Math.max(end, pts + (Number.isFinite(duration) ? (duration ?? 0) : 0));
  };
  // Parsed as it streams: a long file has hundreds of thousands of packets.
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const lines = (partial + chunk.toString("latin1")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) take(line);
      done();
    },
    final(done) {
      take(partial);
      done();
    },
  });
  await runFfprobe(
    [
      "-select_streams",
      String(streamIndex),
      "-show_entries",
      "packet=pts_time,duration_time",
      "-print_format",
      "csv=p=0",
      inputUrl(file),
    ],
    { signal, stdout },
  );
  return end;
}

/**
 * Runs `task` with a signal that aborts on the caller's signal or after `ms`, and turns ffprobe's
 * failures into `MediaUnreadableError`: a probe that fails or stalls means the file is not media.
 */
async function withTimeout<T>(
  outer: AbortSignal | undefined,
  ms: number,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (outer?.aborted) throw abortReason(outer);
  const controller = new AbortController();
  const timedOut = new MediaUnreadableError(
    `not a readable video: reading it took longer than ${ms / 1000} s`,
  );
  const timer = setTimeout(() => controller.abort(timedOut), ms);
  const onAbort = (): void => controller.abort(abortReason(outer as AbortSignal));
  outer?.addEventListener("abort", onAbort, { once: true });
  try {
    return await task(controller.signal);
  } catch (error) {
    if (error instanceof MediaToolError) throw unreadableFrom(error);
    if (error instanceof SyntaxError)
      throw new MediaUnreadableError("not a readable video: ffprobe's answer was garbled");
    throw error;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onAbort);
  }
}

/** The uploader-facing error for a tool that failed on the file's content. */
export function unreadableFrom(error: MediaToolError): MediaUnreadableError {
  return new MediaUnreadableError(`not a readable video: ${reasonOf(error)}`, { cause: error });
}

/**
 * The tool's complaint, short and without server paths: its lines look like
 * `[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8] moov atom not found` and `file:/data/…/x.mp4: Invalid data found…`.
 */
function reasonOf(error: MediaToolError): string {
  const reasons: string[] = [];
  for (const raw of error.stderrTail.split("\n")) {
    const line = raw
      .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, "")
      .replace(/^file:.*?:\s+(?=[A-Z])/, "")
      .trim();
    if (line && !reasons.includes(line)) reasons.push(line);
  }
  const text = reasons.slice(-3).join("; ");
  if (!text)
    return error.exitCode !== null
      ? `${error.tool} exited with code ${error.exitCode}`
      : `${error.tool} was killed`;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
