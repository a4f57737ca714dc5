import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BlobStore, StoredBlob } from "../../blobs/blob-store.js";
import { ContentHasher } from "../../blobs/content-hasher.js";
import { mapConcurrently } from "../../blobs/map-concurrently.js";
import { StageFailure } from "../stage.js";
import { walkFiles } from "../walk-files.js";

/** Streams a blob into a local file for ffmpeg (which wants a seekable file, not a pipe). */
export async function downloadBlob(
  blobs: BlobStore,
  key: string,
  file: string,
  signal?: AbortSignal,
): Promise<void> {
  await pipeline(await blobs.get(key), createWriteStream(file), { ...(signal && { signal }) });
}

/** A stored file as its record names it: where it is and what its bytes must be. */
export interface RecordedFile {
  readonly blobKey: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Streams a recorded file into a local file and checks, in the same pass, that its bytes are exactly
 * the recorded ones (size and sha256): what a stage works on must be what was uploaded and checked.
 * A mismatch fails the job with `DOPPEL.FILE_CHANGED`; retrying could not make the bytes right.
 */
export async function downloadRecordedFile(
  blobs: BlobStore,
  recorded: RecordedFile,
  what: string,
  file: string,
  signal?: AbortSignal,
): Promise<void> {
  const hasher = new ContentHasher();
  await pipeline(await blobs.get(recorded.blobKey), hasher, createWriteStream(file), {
    ...(signal && { signal }),
  });
  const { size, sha256 } = hasher.digests();
  if (size !== recorded.size || sha256 !== recorded.sha256) {
    throw new StageFailure(
      "DOPPEL.FILE_CHANGED",
      `The stored ${what} is not the recorded one: ${size} bytes with sha256 ${sha256}, recorded ${recorded.size} bytes with sha256 ${recorded.sha256}`,
      [
        `The stored ${what} was damaged or replaced after it was recorded; ask the operator to check the blob store`,
      ],
    );
  }
}

/** Streams a local file into the blob store under `key`. */
export async function uploadFile(
  blobs: BlobStore,
  key: string,
  file: string,
  contentType?: string,
): Promise<StoredBlob> {
  return blobs.put(key, createReadStream(file), { ...(contentType !== undefined && { contentType }) });
}

/**
 * Streams a local file into the blob store under `${prefix}${stem}-<sha256>${extension}`, a key its
 * content decides: a repeated run writes the same bytes under the same key, and no key ever gets bytes
 * other than those a report or record written earlier names.
 */
export async function uploadContentAddressed(
  blobs: BlobStore,
  prefix: string,
  stem: string,
  extension: string,
  file: string,
  contentType: string,
): Promise<StoredBlob> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return uploadFile(blobs, `${prefix}${stem}-${hash.digest("hex")}${extension}`, file, contentType);
}

/** Stores a small JSON document. */
export async function putJson(blobs: BlobStore, key: string, value: unknown): Promise<StoredBlob> {
  return blobs.put(key, Readable.from([Buffer.from(JSON.stringify(value, null, 2))]), {
    contentType: "application/json",
  });
}

/** Reads a small JSON document, or undefined when there is none (or it is not JSON). */
export async function readJson<T>(blobs: BlobStore, key: string): Promise<T | undefined> {
  if (!(await blobs.head(key))) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Uploads every file under `dir` to `prefix` + its relative path; returns how many and their bytes. */
export async function uploadDirectory(
  blobs: BlobStore,
  dir: string,
  prefix: string,
): Promise<{ files: number; bytes: number }> {
  const files = (await walkFiles(dir)).filter((e) => e.isFile).map((e) => e.path);
  const stored = await mapConcurrently(files, 4, (file) =>
    uploadFile(blobs, `${prefix}${file}`, join(dir, ...file.split("/"))),
  );
  return { files: stored.length, bytes: stored.reduce((sum, s) => sum + s.size, 0) };
}

/**
 * The paths that other paths of `paths` use as a directory (`a` beside `a/b`): blob stores hold both,
 * no file system can, so a package with any of them cannot be unpacked.
 */
export function fileDirectoryClashes(paths: readonly string[]): string[] {
  const files = new Set(paths);
  const clashes = new Set<string>();
  for (const path of paths) {
    const segments = path.split("/");
    for (let i = 1; i < segments.length; i++) {
      const directory = segments.slice(0, i).join("/");
      if (files.has(directory)) clashes.add(directory);
    }
  }
  return [...clashes].sort();
}

/** Downloads every blob under `prefix` into `dir`, keeping the key's path below the prefix. */
export async function downloadPrefix(
  blobs: BlobStore,
  prefix: string,
  dir: string,
  signal?: AbortSignal,
): Promise<number> {
  const listed = await blobs.list(prefix);
  await mapConcurrently(listed, 4, async (blob) => {
    const file = join(dir, ...blob.key.slice(prefix.length).split("/"));
    await mkdir(dirname(file), { recursive: true });
    await downloadBlob(blobs, blob.key, file, signal);
  });
  return listed.length;
}
