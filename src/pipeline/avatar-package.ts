/**
 * The avatar package (README, "Avatar package"): what a trainer leaves in its output directory and the
 * pipeline publishes as a job's asset. Its manifest format, the checksummed files list a trainer writes
 * into it, and the verifier the package stage runs before publishing, whichever trainer made it.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { mapConcurrently } from "../blobs/map-concurrently.js";
import { abortReason, runFfprobeJson } from "../media/ffmpeg.js";
import { inputUrl } from "../media/probe.js";
import { isPositiveInteger, isRecord } from "./value-guards.js";
import { walkFiles } from "./walk-files.js";

/** The `format` field of every avatar package manifest. */
export const AVATAR_PACKAGE_FORMAT = "doppel-avatar";
/** The manifest version the reference trainer writes and `verifyPackage` understands. */
export const AVATAR_PACKAGE_VERSION = 1;

/** `manifest.json` of an avatar package. */
export interface AvatarManifest {
  format: typeof AVATAR_PACKAGE_FORMAT;
  version: typeof AVATAR_PACKAGE_VERSION;
  trainer: string;
  createdAt: string;
  fps: number;
  /** Frames of the idle loop; also the number of crops, masks and coords entries. */
  frameCount: number;
  /** Size of the crops and masks in pixels. */
  width: number;
  height: number;
  /** The loop is source frames [startFrame, endFrame); frame endFrame is the one most like startFrame. */
  loop: { startFrame: number; endFrame: number; seamScore: number };
  /** The training video's size, and the square of it that each crop shows (source pixels). */
  source: { width: number; height: number; crop: { x: number; y: number; size: number } };
  /** Every file of the package except manifest.json, sorted by path. */
  files: Array<{ path: string; size: number; sha256: string }>;
}

/** One entry of `coords.json`: where the face is on a loop frame, in crop pixels. */
export interface AvatarFrameCoords {
  /** Index in the loop (crops/NNNNNN.png, masks/NNNNNN.png, frame NNNNNN of idle.mp4). */
  frame: number;
  /** The frame of the training video it was cut from. */
  sourceFrame: number;
  box: [number, number, number, number];
  landmarks: Array<[number, number]>;
}

/** Every file under `dir` except manifest.json, as relative POSIX paths, sorted. */
async function listFiles(dir: string): Promise<{ files: string[]; odd: string[] }> {
  const files: string[] = [];
  const odd: string[] = [];
  for (const entry of await walkFiles(dir)) {
    if (!entry.isFile) odd.push(entry.path);
    else if (entry.path !== "manifest.json") files.push(entry.path);
  }
  return { files: files.sort(), odd: odd.sort() };
}

async function sha256(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The manifest's files list for the package in `dir`: every file but manifest.json, with size and sha256. */
export async function describeFiles(
  dir: string,
  signal: AbortSignal,
  onProgress: (fraction: number) => void,
): Promise<AvatarManifest["files"]> {
  const { files } = await listFiles(dir);
  let done = 0;
  // A few reads in flight: hundreds of small PNGs are latency-bound, not bandwidth-bound.
  return mapConcurrently(files, 8, async (relative) => {
    const absolute = path.join(dir, relative);
    const { size } = await stat(absolute);
    const described = { path: relative, size, sha256: await sha256(absolute, signal) };
    onProgress(++done / files.length);
    return described;
  });
}

/** Checks an avatar package against its manifest: files, sizes, checksums, image sizes and frame counts. */
export async function verifyPackage(
  dir: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  const result = () => ({ ok: problems.length === 0, problems });
  let manifest: AvatarManifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as AvatarManifest;
  } catch (error) {
    problems.push(`manifest.json is missing or not JSON: ${(error as Error).message}`);
    return result();
  }
  if (!isRecord(manifest) || manifest.format !== AVATAR_PACKAGE_FORMAT) {
    problems.push(`manifest.json is not a ${AVATAR_PACKAGE_FORMAT} manifest`);
    return result();
  }
  if (manifest.version !== AVATAR_PACKAGE_VERSION) {
    problems.push(`manifest version ${String(manifest.version)} is not ${AVATAR_PACKAGE_VERSION}`);
    return result();
  }
  if (!Array.isArray(manifest.files)) {
    problems.push("manifest.json has no files list");
    return result();
  }

  const listed = new Map<string, AvatarManifest["files"][number]>();
  for (const entry of manifest.files) {
    const p = isRecord(entry) ? entry.path : undefined;
    // A path that escapes the package could make a consumer read or overwrite anything.
    if (typeof p !== "string" || !isSafeRelativePath(p) || p === "manifest.json") {
      problems.push(`manifest lists an invalid path: ${JSON.stringify(p)}`);
      continue;
    }
    if (listed.has(p)) problems.push(`manifest lists ${p} twice`);
    listed.set(p, entry);
  }

  for (const [relative, entry] of listed) {
    const absolute = path.join(dir, relative);
    const stats = await stat(absolute).catch(() => undefined);
    if (!stats?.isFile()) {
      problems.push(`${relative} is listed but missing`);
      continue;
    }
    if (stats.size !== entry.size) {
      problems.push(`${relative} has ${stats.size} bytes, the manifest says ${entry.size}`);
      continue;
    }
    if ((await sha256(absolute, options.signal)) !== entry.sha256) {
      problems.push(`${relative} does not match its sha256`);
    }
  }
  const present = await listFiles(dir);
  for (const relative of present.files) if (!listed.has(relative)) problems.push(`${relative} is not listed`);
  for (const relative of present.odd) problems.push(`${relative} is not a regular file`);

  // Counted on disk, not in the manifest: a renderer sees what is there.
  await checkFrames(dir, manifest, present.files, problems, options.signal);
  return result();
}

async function checkFrames(
  dir: string,
  manifest: AvatarManifest,
  paths: string[],
  problems: string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const { frameCount, width, height, loop } = manifest;
  if (!isPositiveInteger(frameCount)) {
    problems.push("manifest frameCount is not a positive integer");
    return;
  }
  if (!isRecord(loop) || loop.endFrame - loop.startFrame !== frameCount) {
    problems.push(`manifest loop does not span frameCount (${frameCount}) frames`);
  }
  for (const folder of ["crops", "masks"]) {
    const images = paths.filter((p) => p.startsWith(`${folder}/`)).sort();
    if (images.length !== frameCount) {
      problems.push(`${folder} has ${images.length} images for ${frameCount} frames`);
    }
    for (let i = 0; i < images.length; i++) {
      const expected = `${folder}/${String(i).padStart(6, "0")}.png`;
      if (images[i] !== expected) {
        problems.push(`${folder} is not numbered 000000.png onwards (found ${images[i]})`);
        break;
      }
    }
    for (const image of images) {
      const size = await pngSize(path.join(dir, image));
      if (!size || size.width !== width || size.height !== height) {
        problems.push(`${image} is not a ${width}x${height} PNG`);
        break;
      }
    }
  }
  try {
    const coords: unknown = JSON.parse(await readFile(path.join(dir, "coords.json"), "utf8"));
    if (!Array.isArray(coords) || coords.length !== frameCount) {
      problems.push(`coords.json does not have ${frameCount} entries`);
    } else if (!coords.every((c, i) => isRecord(c) && c.frame === i && Array.isArray(c.landmarks))) {
      problems.push("coords.json entries are not frames 0.. in order with landmarks");
    }
  } catch (error) {
    problems.push(`coords.json is unreadable: ${(error as Error).message}`);
  }
  try {
    const answer = (await runFfprobeJson(
      [
        "-select_streams",
        "v:0",
        "-count_packets",
        "-show_entries",
        "stream=codec_name,nb_read_packets",
        inputUrl(path.resolve(dir, "idle.mp4")),
      ],
      signal,
    )) as { streams?: Array<{ codec_name?: string; nb_read_packets?: string }> };
    const stream = answer.streams?.[0];
    const packets = Number(stream?.nb_read_packets);
    if (stream?.codec_name !== "h264") problems.push("idle.mp4 is not H.264");
    if (packets !== frameCount)
      problems.push(`idle.mp4 has ${packets} frames, the manifest says ${frameCount}`);
  } catch (error) {
    if (signal?.aborted) throw abortReason(signal);
    problems.push(`idle.mp4 is not a readable video: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Width and height from a PNG's IHDR chunk, or undefined when the file is not a PNG. */
async function pngSize(file: string): Promise<{ width: number; height: number } | undefined> {
  const handle = await open(file, "r").catch(() => undefined);
  if (!handle) return undefined;
  try {
    const head = Buffer.alloc(24);
    const { bytesRead } = await handle.read(head, 0, 24, 0);
    const signature = "89504e470d0a1a0a";
    if (bytesRead < 24 || head.subarray(0, 8).toString("hex") !== signature) return undefined;
    if (head.subarray(12, 16).toString("latin1") !== "IHDR") return undefined;
    return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  } finally {
    await handle.close();
  }
}

function isSafeRelativePath(p: string): boolean {
  return (
    p.length > 0 &&
    !p.startsWith("/") &&
    !p.includes("\\") &&
    !p.includes("\0") &&
    p.split("/").every((part) => part !== "" && part !== "." && part !== "..")
  );
}
