import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { runFfmpeg } from "../../src/media/ffmpeg.js";

/**
 * Short test videos made with ffmpeg from the sample photos that ship with @vladmandic/face-api (so
 * nothing is downloaded and nothing binary is committed). The photos are group shots; each crop below
 * was chosen by looking at it to hold exactly one face (no neighbour's face, not even in part).
 * Checked with face-api's ssdMobilenetv1 on 12 sampled frames each: one face in every frame of the
 * person clips, none in noFace, two in twoPeople; descriptor distance A↔A-consent ≈ 0.1, A↔B ≈ 0.68.
 */

/** Every clip `ensureClips` makes, by name, as absolute paths. */
export interface Clips {
  /** 8 s, 360x640 portrait, one person (A) with a slow zoom, speech-like audio. */
  personA: string;
  /** 4 s, 360x640, person A again (same photo, another framing, a pan), with audio. */
  personAConsent: string;
  /** 4 s, 360x640, a different person (B), with audio. */
  personBConsent: string;
  /** 6 s, 360x640, ffmpeg's testsrc2 pattern: no face at all, with audio. */
  noFace: string;
  /** 6 s, 640x360, persons A and B side by side, with audio. */
  twoPeople: string;
  /** 1 s of person A with audio. */
  tooShort: string;
  /** 6 s of person A without an audio track. */
  noAudio: string;
  /** The first 64 bytes of a real MP4 (so magic bytes say video/mp4), then garbage ffprobe cannot read. */
  corrupt: string;
}

/** Bump when a recipe changes: the cache directory is reused as long as it is complete. */
const RECIPES_VERSION = 2;

const FILES: Readonly<Record<keyof Clips, string>> = {
  personA: "person-a.mp4",
  personAConsent: "person-a-consent.mp4",
  personBConsent: "person-b-consent.mp4",
  noFace: "no-face.mp4",
  twoPeople: "two-people.mp4",
  tooShort: "too-short.mp4",
  noAudio: "no-audio.mp4",
  corrupt: "corrupt.mp4",
};

const FPS = 25;

/** The face-api package's demo photos (1920 px wide). */
function photo(name: "sample3.jpg" | "sample5.jpg"): string {
  const main = createRequire(import.meta.url).resolve("@vladmandic/face-api");
  return path.join(path.dirname(main), "..", "demo", name);
}

/** A region of a photo holding one person's face: crop w:h at x,y in the 1920-wide original. */
interface Crop {
  photo: "sample3.jpg" | "sample5.jpg";
  w: number;
  h: number;
  x: number;
  y: number;
}

// Person A: the blonde woman in the middle of sample3 (face at about x 1070–1340, y 190–510). Her
// neighbours' faces end at x ≈ 810 and start at x ≈ 1500, so crops stay within 830–1490.
const A_PORTRAIT: Crop = { photo: "sample3.jpg", w: 630, h: 1120, x: 860, y: 40 };
const A_PORTRAIT_ALT: Crop = { photo: "sample3.jpg", w: 600, h: 1066, x: 880, y: 90 };
const A_HALF: Crop = { photo: "sample3.jpg", w: 630, h: 709, x: 860, y: 40 };
// Person B: the woman on the right of sample5 (face at about x 1410–1580, y 500–730). The woman above
// her has her chin at y ≈ 480 and x < 1235, so crops start right of and below that.
const B_PORTRAIT: Crop = { photo: "sample5.jpg", w: 560, h: 996, x: 1280, y: 400 };
const B_HALF: Crop = { photo: "sample5.jpg", w: 560, h: 630, x: 1280, y: 400 };

/**
 * A filter chain turning a still crop into `seconds` of video with gentle movement (zoompan: a slow
 * zoom, optionally a pan), `size` pixels. yuv420p before zoompan: converting after it, at the output
 * size, cost several times the whole encode.
 */
function moving(crop: Crop, seconds: number, size: string, motion: "zoom" | "pan"): string {
  const frames = Math.round(seconds * FPS);
  const z = motion === "zoom" ? `1+0.12*on/${frames}` : "1.1";
  const x = motion === "zoom" ? "(iw-iw/zoom)*0.5" : `(iw-iw/zoom)*(0.5+0.45*sin(2*PI*on/${frames}))`;
  return (
    `crop=${crop.w}:${crop.h}:${crop.x}:${crop.y},format=yuv420p,` +
    `zoompan=z='${z}':x='${x}':y='(ih-ih/zoom)*0.3':d=${frames}:s=${size}:fps=${FPS}`
  );
}

/**
 * Speech-like audio: a voiced tone with a few harmonics and a wandering pitch, shaped into syllables
 * (about 4 per second) and phrases with pauses. Enough for loudness and voice-activity checks.
 */
function speech(seconds: number, pitchHz: number): string {
  const f = pitchHz;
  const voice =
    `sin(2*PI*${f}*t+4*sin(2*PI*1.1*t))+0.5*sin(4*PI*${f}*t+8*sin(2*PI*1.1*t))` +
    `+0.25*sin(6*PI*${f}*t+12*sin(2*PI*1.1*t))`;
  const syllables = "pow(abs(sin(2*PI*2.2*t)),2)";
  const phrases = "gt(sin(2*PI*0.37*t)+0.8,0)";
  return `aevalsrc='0.3*(${voice})*${syllables}*${phrases}':s=24000:d=${seconds}`;
}

const ENCODE_VIDEO = [
  "-c:v",
  "libx264",
  "-preset",
  "ultrafast",
  "-pix_fmt",
  "yuv420p",
  "-g",
  String(2 * FPS),
];
const ENCODE_AUDIO = ["-c:a", "aac", "-b:a", "64k", "-ac", "1"];

/** One person's crop, moving, with speech: the recipe of personA and the consent clips. */
/** The output half of a clip made by a filter graph that labels its streams [v] and [a]. */
function graphOutput(seconds: number, file: string, video: readonly string[] = ENCODE_VIDEO): string[] {
  return [
    "-map",
    "[v]",
    "-map",
    "[a]",
    ...video,
    ...ENCODE_AUDIO,
    "-t",
    String(seconds),
    "-movflags",
    "+faststart",
    "-y",
    file,
  ];
}

async function person(file: string, crop: Crop, seconds: number, motion: "zoom" | "pan", pitchHz: number) {
  await runFfmpeg([
    "-i",
    photo(crop.photo),
    "-filter_complex",
    // The audio source lives in the filter graph, not a second lavfi input: with two inputs ffmpeg 4.1
    // interleaves them in lockstep and the encode took three times as long.
    `[0:v]${moving(crop, seconds, "360x640", motion)}[v];${speech(seconds, pitchHz)}[a]`,
    ...graphOutput(seconds, file),
  ]);
}

async function twoPeople(file: string, seconds: number): Promise<void> {
  await runFfmpeg([
    "-i",
    photo(A_HALF.photo),
    "-i",
    photo(B_HALF.photo),
    "-filter_complex",
    `[0:v]${moving(A_HALF, seconds, "320x360", "zoom")}[l];[1:v]${moving(B_HALF, seconds, "320x360", "zoom")}[r];` +
      `[l][r]hstack[v];${speech(seconds, 200)}[a]`,
    ...graphOutput(seconds, file),
  ]);
}

async function noFace(file: string, seconds: number): Promise<void> {
  await runFfmpeg([
    "-filter_complex",
    `testsrc2=size=360x640:rate=${FPS}:duration=${seconds},format=yuv420p[v];${speech(seconds, 180)}[a]`,
    ...graphOutput(seconds, file),
  ]);
}

/**
 * The first `seconds` of `source`, copied (no re-encode), optionally without its audio. Without
 * `+faststart` the index (moov) goes at the end, as a phone writes it, and the file starts with
 * ftyp, free and the media data's header.
 */
async function cut(source: string, file: string, seconds: number, audio: boolean): Promise<void> {
  await runFfmpeg([
    "-i",
    source,
    "-map",
    "0:v:0",
    ...(audio ? ["-map", "0:a:0"] : []),
    "-c",
    "copy",
    "-t",
    String(seconds),
    "-y",
    file,
  ]);
}

/**
 * A real file's first 64 bytes, then 256 KiB of deterministic noise. The source must have its index
 * at the end: its head is then ftyp (magic bytes say video/mp4) and an mdat header claiming more bytes
 * than follow, so ffprobe fails with "moov atom not found". (Cut from a `+faststart` file, the head
 * would be the start of moov, and ffprobe 6 reads that as a valid file with no streams.)
 */
async function corrupt(source: string, file: string): Promise<void> {
  const head = Buffer.alloc(64);
  const handle = await open(source, "r");
  try {
    await handle.read(head, 0, 64, 0);
  } finally {
    await handle.close();
  }
  const noise = Buffer.alloc(256 * 1024);
  let state = 0x2545f491;
  for (let i = 0; i < noise.length; i++) {
    // xorshift32: the same garbage every time, so the clip and ffprobe's complaint are reproducible.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    noise[i] = state & 0xff;
  }
  await writeFile(file, Buffer.concat([head, noise]));
}

/** Makes every clip into `dir` (which must exist), a few seconds on two cores. */
async function generate(dir: string): Promise<void> {
  const file = (name: keyof Clips): string => path.join(dir, FILES[name]);
  const fromPersonA = async (): Promise<void> => {
    await person(file("personA"), A_PORTRAIT, 8, "zoom", 210);
    await Promise.all([
      cut(file("personA"), file("tooShort"), 1, true),
      cut(file("personA"), file("noAudio"), 6, false),
    ]);
    await corrupt(file("tooShort"), file("corrupt"));
  };
  // Two chains at once: each encode is one filter thread plus x264's threads, on two cores.
  await Promise.all([
    (async () => {
      await fromPersonA();
      await noFace(file("noFace"), 6);
    })(),
    (async () => {
      await person(file("personAConsent"), A_PORTRAIT_ALT, 4, "pan", 210);
      await person(file("personBConsent"), B_PORTRAIT, 4, "zoom", 190);
      await twoPeople(file("twoPeople"), 6);
    })(),
  ]);
}

function clipsIn(dir: string): Clips {
  return Object.fromEntries(
    Object.entries(FILES).map(([name, file]) => [name, path.join(dir, file)]),
  ) as unknown as Clips;
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    const sizes = await Promise.all(
      Object.values(FILES).map(async (file) => (await stat(path.join(dir, file))).size),
    );
    return sizes.every((size) => size > 0);
  } catch {
    return false;
  }
}

/** The default cache directory, shared by every test process on the machine. */
export function defaultClipsDir(): string {
  return path.join(os.tmpdir(), `doppel-test-clips-v${RECIPES_VERSION}`);
}

const pending = new Map<string, Promise<Clips>>();

/**
 * The test clips in `dir` (default: a versioned directory under the OS temp dir), made if missing.
 * Safe when several test processes ask at once: one makes the set (the others wait on its lock file)
 * in a fresh directory and renames it into place, so a set is never seen half made; should two make
 * one anyway (a lock left by a dead process), the one that loses the rename uses the winner's set.
 */
export function ensureClips(dir = defaultClipsDir()): Promise<Clips> {
  const target = path.resolve(dir);
  let clips = pending.get(target);
  if (!clips) {
    clips = build(target);
    pending.set(target, clips);
    clips.catch(() => pending.delete(target));
  }
  return clips;
}

async function build(target: string): Promise<Clips> {
  if (await isComplete(target)) return clipsIn(target);
  await mkdir(path.dirname(target), { recursive: true });
  // One process makes the set while the others wait for it: vitest starts a process per test file,
  // and each making its own would multiply the work on a two-core machine.
  const lock = `${target}.lock`;
  const owner = await writeFile(lock, String(process.pid), { flag: "wx" }).then(
    () => true,
    () => false,
  );
  if (!owner && (await waitForOther(target, lock))) return clipsIn(target);
  const staging = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await mkdir(staging);
  try {
    await generate(staging);
    if (!(await moveIntoPlace(staging, target))) throw new Error(`could not put the test clips in ${target}`);
    return clipsIn(target);
  } finally {
    await rm(staging, { recursive: true, force: true });
    // The owner's lock, or a dead owner's that this process worked around.
    await rm(lock, { force: true });
  }
}

/** Waits while the lock's owner makes the set; false if it gave up (failed or died) without one. */
async function waitForOther(target: string, lock: string): Promise<boolean> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (await isComplete(target)) return true;
    const pid = Number(await readFile(lock, "utf8").catch(() => ""));
    if (!pid || !isAlive(pid)) return isComplete(target);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but someone else's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Renames the finished set into place; false only if the place holds an incomplete set it could not replace. */
async function moveIntoPlace(staging: string, target: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await rename(staging, target);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "EPERM") throw error;
    }
    // Another process got there first: its set is as good as ours.
    if (await isComplete(target)) return true;
    // A set left incomplete (a file deleted by hand, an older crash): moved aside, then replaced.
    const aside = `${target}.broken-${randomBytes(4).toString("hex")}`;
    await rename(target, aside).catch(() => {});
    await rm(aside, { recursive: true, force: true });
  }
  return isComplete(target);
}

/** Options of `makeLongClip`. */
export interface LongClipOptions {
  width: number;
  height: number;
  /**
   * x264 preset (default "veryfast": CABAC, deblocking and B-frames, as a camera's file has, so it
   * decodes as slowly as a real one; "ultrafast" files decode unrealistically fast).
   */
  preset?: string;
  /** Seconds between keyframes (default 10, x264's default and the worst case for seeking). */
  keyframeSeconds?: number;
}

/**
 * Writes `seconds` of person A talking at width×height (her head-and-shoulders crop fitted and centred
 * on a dark background), H.264 + AAC: a realistic large input for benchmarks, not made by `ensureClips`.
 */
export async function makeLongClip(
  file: string,
  seconds: number,
  options: LongClipOptions = { width: 1920, height: 1080 },
): Promise<void> {
  const { width, height } = options;
  const even = (n: number): number => Math.max(2, 2 * Math.floor(n / 2));
  // Head and shoulders, as a training video frames its speaker: the face is about a third of the
  // frame's height (in a full-length portrait crop pillarboxed into 16:9 it would be too small to detect).
  const crop = A_HALF;
  const scale = Math.min(width / crop.w, height / crop.h);
  const fitted = `${even(crop.w * scale)}x${even(crop.h * scale)}`;
  const frames = Math.round(seconds * FPS);
  const keyint = Math.round((options.keyframeSeconds ?? 10) * FPS);
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await runFfmpeg([
    "-i",
    photo(crop.photo),
    "-filter_complex",
    `[0:v]crop=${crop.w}:${crop.h}:${crop.x}:${crop.y},format=yuv420p,` +
      // A zoom that breathes in and out every 10 s, so frames differ all along the clip.
      `zoompan=z='1+0.1*pow(sin(PI*on/${10 * FPS}),2)':x='(iw-iw/zoom)*0.5':y='(ih-ih/zoom)*0.3':` +
      `d=${frames}:s=${fitted}:fps=${FPS},` +
      `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:color=0x202020[v];${speech(seconds, 210)}[a]`,
    ...graphOutput(seconds, file, [
      ...["-c:v", "libx264", "-preset", options.preset ?? "veryfast"],
      ...["-pix_fmt", "yuv420p", "-g", String(keyint)],
    ]),
  ]);
}

/** The start of an ISO-BMFF (MP4) file: enough for the servers' magic-byte check to call it video/mp4. */
export const MP4_HEAD = Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex");
