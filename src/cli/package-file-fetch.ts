/**
 * One file of a download from its signed URL onto disk, verified and resumable (used by
 * asset-download.ts): written to `<target>.part`, hashed as it arrives, synced and renamed into place
 * only when its sha256 is the expected one.
 *
 * - A file already in place with the right sha256 is skipped.
 * - A `.part` left by a cut run is continued with `Range: bytes=<have>-` when the server answers 206
 *   with exactly `bytes <have>-<size-1>/<size>`; any other answer starts the file over (a 200 is used
 *   as it comes, anything else is asked again without a Range). If the file then does not match, the
 *   kept bytes may be what is wrong, so it is fetched once more from the start.
 * - A connection cut mid-file is retried a few times, each resuming where the last stopped; the `.part`
 *   stays for the next run if they all fail.
 * - A file whose bytes do not match is deleted and named in the error.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { apiErrorOf, networkError } from "./api-client.js";

/** Retries of one file after its connection was cut. */
const RETRIES = 3;

/** A file to fetch: its path (for messages), what it must be, and its signed URL. */
export interface RemoteFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly url: string;
}

/** `downloaded`: fetched whole; `resumed`: continued from a `.part`; `skipped`: already in place. */
export type FileStatus = "downloaded" | "resumed" | "skipped";

export interface FetchContext {
  readonly signal: AbortSignal;
  /** Bytes received from the server. */
  readonly onReceived: (n: number) => void;
  /** Bytes of the file done: received, or found on disk already; negative when thrown away. */
  readonly onProgress: (n: number) => void;
  readonly note: (message: string) => void;
}

/** Fetches `file` into `target` (see the top of this file); resolves with what was done. */
export async function fetchVerified(
  file: RemoteFile,
  target: string,
  ctx: FetchContext,
): Promise<FileStatus> {
  const part = `${target}.part`;
  if ((await sizeOf(target)) === file.size && (await sha256Of(target, file.size)) === file.sha256) {
    await rm(part, { force: true });
    ctx.onProgress(file.size);
    return "skipped";
  }
  await mkdir(path.dirname(target), { recursive: true });
  // Progress of this file as the bytes of it done so far, however often it is resumed or started over.
  let shown = 0;
  const at = (position: number) => {
    ctx.onProgress(position - shown);
    shown = position;
  };
  let resumed = false;
  for (;;) {
    const written = await retryingCuts(ctx.signal, async () =>
      fetchIntoPart(file, part, await keptBytes(part, file.size), ctx, at),
    );
    resumed ||= written.appended;
    if (written.sha256 === file.sha256) {
      await rename(part, target);
      return resumed ? "resumed" : "downloaded";
    }
    await rm(part, { force: true });
    if (written.appended) {
      at(0);
      ctx.note(
        `${file.path}: the resumed file did not match its sha256; downloading it again from the start`,
      );
      resumed = false;
      continue;
    }
    throw new Error(
      `${file.path} does not match the manifest: its sha256 is ${written.sha256}, the manifest's (and ShowAsset's) ${file.sha256}; the file was deleted. The asset's stored copy may be damaged`,
    );
  }
}

/** What a `.part` holds after a fetch: its sha256, and whether bytes kept from before are in it. */
interface Written {
  readonly sha256: string;
  readonly appended: boolean;
}

/** A connection cut while a file was arriving: worth resuming. */
class CutError extends Error {}

/** Runs `attempt` again, after a growing pause, while it fails with a CutError: at most RETRIES times more. */
async function retryingCuts<T>(signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof CutError) || retry >= RETRIES || signal?.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** retry));
    }
  }
}

/** The bytes a `.part` holds that may be continued: none when it is missing or longer than the file. */
async function keptBytes(part: string, size: number): Promise<number> {
  const have = (await sizeOf(part)) ?? 0;
  if (have <= size) return have;
  await rm(part, { force: true });
  return 0;
}

/** Brings `part` (holding `have` bytes) up to the whole file, synced. */
async function fetchIntoPart(
  file: RemoteFile,
  part: string,
  have: number,
  ctx: FetchContext,
  at: (position: number) => void,
): Promise<Written> {
  const kept = createHash("sha256");
  if (have > 0) await hashInto(kept, part, have);
  if (have > 0 && have === file.size) {
    at(have);
    return { sha256: kept.digest("hex"), appended: true };
  }
  let response = await get(file, have > 0 ? `bytes=${have}-` : undefined, ctx.signal);
  let appended = false;
  if (have > 0) {
    const expected = `bytes ${have}-${file.size - 1}/${file.size}`;
    if (response.status === 206 && response.headers.get("content-range") === expected) {
      appended = true;
      ctx.note(`${file.path}: resuming after ${have} of ${file.size} bytes`);
    } else {
      ctx.note(
        `${file.path}: the server did not send the rest of the file (HTTP ${response.status}, Content-Range ${response.headers.get("content-range") ?? "none"}); starting it over`,
      );
      if (response.status !== 200) {
        await response.body?.cancel();
        response = await get(file, undefined, ctx.signal);
      }
    }
  }
  if (response.status !== 200 && !appended) {
    throw apiErrorOf(response.status, await response.text(), `GET ${file.path}`);
  }
  const hash = appended ? kept : createHash("sha256");
  const start = appended ? have : 0;
  at(start);
  let arrived = 0;
  let overflow: Error | undefined;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      arrived += chunk.length;
      if (start + arrived > file.size) {
        overflow = new Error(`the server sent more than the ${file.size} bytes of ${file.path}`);
        callback(overflow);
        return;
      }
      hash.update(chunk);
      ctx.onReceived(chunk.length);
      at(start + arrived);
      callback(null, chunk);
    },
  });
  const body = response.body
    ? Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)
    : Readable.from([]);
  try {
    // flush: the file is synced to disk before it is closed (and later renamed into place).
    const sink = createWriteStream(part, { flags: appended ? "a" : "w", flush: true });
    await pipeline(body, counter, sink, { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted || overflow !== undefined) throw overflow ?? error;
    throw new CutError(
      `the download of ${file.path} was cut after ${start + arrived} of ${file.size} bytes (${causeOf(error)}); run the command again to resume`,
    );
  }
  if (start + arrived !== file.size) {
    throw new CutError(
      `the download of ${file.path} ended after ${start + arrived} of ${file.size} bytes; run the command again to resume`,
    );
  }
  return { sha256: hash.digest("hex"), appended };
}

/** A GET of a file's signed URL, with a Range when resuming; a network failure is a CutError. */
async function get(file: RemoteFile, range: string | undefined, signal?: AbortSignal): Promise<Response> {
  // No compression: the bytes (and ranges) must be the file's own.
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (range !== undefined) headers.range = range;
  try {
    return await fetch(file.url, { headers, signal: signal ?? null });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new CutError((networkError(error, file.url, new URL(file.url).origin) ?? (error as Error)).message);
  }
}

/** A small file whole, into memory (a manifest), checked against its size and sha256. */
export async function fetchSmall(file: RemoteFile, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  if (file.size > maxBytes) {
    throw new Error(`${file.path} is listed with ${file.size} bytes; expected at most ${maxBytes}`);
  }
  const bytes = await retryingCuts(signal, async () => {
    const response = await get(file, undefined, signal);
    if (response.status !== 200) {
      throw apiErrorOf(response.status, await response.text(), `GET ${file.path}`);
    }
    try {
      return Buffer.from(await response.arrayBuffer());
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new CutError(`the download of ${file.path} was cut (${causeOf(error)}); run the command again`);
    }
  });
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== file.sha256 || bytes.length !== file.size) {
    throw new Error(
      `${file.path} does not match what ShowAsset lists: ${bytes.length} bytes with sha256 ${sha256}, listed ${file.size} bytes with sha256 ${file.sha256}`,
    );
  }
  return bytes;
}

/** Writes `bytes` to `target` through `<target>.part`, synced, then renamed into place. */
export async function writeAtomically(target: string, bytes: Buffer): Promise<void> {
  const part = `${target}.part`;
  await writeFile(part, bytes, { flush: true });
  await rename(part, target);
}

/** The system error code (or message) behind a broken body stream. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") return code;
  return cause instanceof Error ? cause.message : (error as Error).message;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    const info = await stat(file);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

async function hashInto(hash: Hash, file: string, bytes: number): Promise<void> {
  for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 }))
    hash.update(chunk as Buffer);
}

async function sha256Of(file: string, bytes: number): Promise<string> {
  const hash = createHash("sha256");
  if (bytes > 0) await hashInto(hash, file, bytes);
  return hash.digest("hex");
}
