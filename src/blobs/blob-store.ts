import type { Readable } from "node:stream";

/**
 * Where job files live: a local directory (the embedded default) or S3-compatible storage. Keys are
 * `/`-separated relative paths such as `jobs/<job_id>/training-video/part-00001`; callers build them,
 * stores never interpret them. Both implementations pass `test/integration/blob-store.test.ts`.
 */
export interface BlobInfo {
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  /** Hex MD5 of the content, as S3 reports it for a single-part object. */
  readonly etag: string;
}

export interface StoredBlob extends BlobInfo {
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
}

/**
 * Bytes `start` to `end` of a blob, both inclusive (as in HTTP's `Range: bytes=start-end`, S3's Range
 * and Node's `createReadStream`), so `{start: 0, end: 0}` is the first byte. Whole non-negative
 * integers with `start <= end`, else `get` rejects with a RangeError.
 */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface PutOptions {
  /** Refuse (with BlobTooLargeError) and store nothing once more than this many bytes arrive. */
  readonly maxBytes?: number;
  readonly contentType?: string;
}

export interface BlobStore {
  /** `local` or `s3`, for logs and the README. */
  readonly kind: "local" | "s3";
  /**
   * Streams `body` into `key`. The blob appears whole or not at all: a body that errors or exceeds
   * `maxBytes` leaves any previous blob at `key` untouched and no partial one. Never buffers the whole
   * body in memory.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<StoredBlob>;
  /**
   * The content as a stream, or only `range` of it; throws BlobNotFoundError. A range's end past the
   * last byte reads to the last byte; a range that starts at or past the end reads nothing.
   */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /** Size and etag, or undefined when absent. */
  head(key: string): Promise<BlobInfo | undefined>;
  /** Blobs whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<BlobInfo[]>;
  /** Removes one blob; absent is not an error. */
  delete(key: string): Promise<void>;
  /** Removes every blob under `prefix`; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * A URL a client can GET the blob from directly until it expires, for stores that have their own
   * (S3). Absent: Doppel serves downloads itself through its signed URLs.
   */
  presignGet?(key: string, expiresInSeconds: number): Promise<string>;
  /**
   * A URL a client can PUT a blob to directly until it expires, for stores that have their own (S3).
   * Absent: uploads go through Doppel's signed URLs.
   */
  presignPut?(key: string, expiresInSeconds: number): Promise<string>;
}

/** Rejects a range that is not whole non-negative numbers with `start <= end` (see ByteRange). */
export function assertValidRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}

/** A key that names no blob. */
export class BlobNotFoundError extends Error {
  override readonly name = "BlobNotFoundError";
  constructor(readonly key: string) {
    super(`no blob at ${key}`);
  }
}

/** A body larger than the allowed size; nothing was stored. */
export class BlobTooLargeError extends Error {
  override readonly name = "BlobTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`the content is larger than ${maxBytes} bytes`);
  }
}
