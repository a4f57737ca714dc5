import type { FileSlot } from "../domain/job-files.js";

/** Where a job's files live in the blob store. Deleting `jobPrefix` removes them all. */
export function jobPrefix(jobId: string): string {
  return `jobs/${jobId}/`;
}

export function slotPartsPrefix(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/parts/`;
}

/** Part keys are zero-padded so the store lists them in part order. */
export function partKey(jobId: string, slot: FileSlot, part: number): string {
  return `${slotPartsPrefix(jobId, slot)}${String(part).padStart(5, "0")}`;
}

export function partNumberOf(key: string): number | undefined {
  const match = /\/parts\/(\d{5})$/.exec(key);
  return match ? Number(match[1]) : undefined;
}

/** The whole file of a slot: an assembled video or a single upload. */
export function slotFileKey(jobId: string, slot: FileSlot): string {
  return `jobs/${jobId}/${slot}/file`;
}
