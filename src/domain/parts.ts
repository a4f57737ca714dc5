/** How a multipart upload splits a file: shared by the command line and the console. */

/** MetaStudio's limit on `video_multipart_count`. */
export const MAX_PARTS = 1000;

export interface PartRange {
  readonly partNumber: number;
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte + 1. */
  readonly end: number;
}

/** Splits `size` bytes into `parts` byte ranges whose lengths differ by at most one, in order. */
export function partRanges(size: number, parts: number): PartRange[] {
  return Array.from({ length: parts }, (_, i) => ({
    partNumber: i + 1,
    start: Math.floor((i * size) / parts),
    end: Math.floor(((i + 1) * size) / parts),
  }));
}

/** Parts for a file of `size` bytes at about `partBytes` each: at least 1, at most MAX_PARTS. */
export function partCountFor(size: number, partBytes: number): number {
  return Math.min(MAX_PARTS, Math.max(1, Math.ceil(size / partBytes)));
}
