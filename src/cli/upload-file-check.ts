import { open, stat } from "node:fs/promises";
import { fileTypeFromBuffer } from "file-type";
import { ACCEPTED_TYPES } from "../domain/job-files.js";

/**
 * A readable, non-empty regular file of at least one byte per part, whose first bytes say it is of a
 * kind the server takes in `slot` — checked here so a wrong file fails before anything is sent.
 */
export async function checkUploadFile(
  flag: string,
  path: string,
  slot: "training-video" | "grant-file",
  parts = 1,
): Promise<{ path: string; size: number }> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error(`${flag} ${path} is not a regular file`);
    size = info.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${flag} ${path} does not exist`);
    if (code === "EACCES") throw new Error(`${flag} ${path} cannot be read (permission denied)`);
    throw error;
  }
  if (size === 0) throw new Error(`${flag} ${path} is empty`);
  if (size < parts) throw new Error(`${flag} ${path} has ${size} bytes, fewer than its ${parts} parts`);
  const handle = await open(path, "r");
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(Math.min(size, 4100));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const mime = (await fileTypeFromBuffer(head))?.mime;
  const accepted = ACCEPTED_TYPES[slot];
  if (mime === undefined || !accepted.includes(mime)) {
    const what = slot === "training-video" ? "the training video" : "a consent file";
    throw new Error(
      `${flag} ${path} is ${mime ?? "of an unrecognised kind"}; ${what} must be one of ${accepted.join(", ")}`,
    );
  }
  return { path, size };
}
