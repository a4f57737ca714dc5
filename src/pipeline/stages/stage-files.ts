import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BlobStore, StoredBlob } from "../../blobs/blob-store.js";
import { mapConcurrently } from "../../blobs/map-concurrently.js";
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

/** Streams a local file into the blob store under `key`. */
export async function uploadFile(
  blobs: BlobStore,
  key: string,
  file: string,
  contentType?: string,
): Promise<StoredBlob> {
  return blobs.put(key, createReadStream(file), { ...(contentType !== undefined && { contentType }) });
}

/** Stores a small JSON document. */
export async function putJson(blobs: BlobStore, key: string, value: unknown): Promise<StoredBlob> {
  return blobs.put(key, Readable.from([Buffer.from(JSON.stringify(value, null, 2))]), {
    contentType: "application/json",
  });
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
