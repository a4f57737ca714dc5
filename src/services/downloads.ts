import type { Readable } from "node:stream";
import { BlobNotFoundError, type BlobStore, type ByteRange } from "../blobs/blob-store.js";
import type { DoppelError } from "../domain/errors.js";

/**
 * A file a download URL serves: what the HTTP layer needs to answer GET, HEAD, conditional and range
 * requests (`http/downloads/serve-download.ts`), and a way to read it that is used only when a body
 * is sent, so a HEAD, a 304 or a 416 reads nothing.
 */
export interface Download {
  readonly contentType: string;
  /** Bytes. */
  readonly size: number;
  /** Hex SHA-256 of the content, when it is known before it is sent: then its strong ETag. */
  readonly sha256?: string;
  /** A strong ETag for content made as it is sent (an archive), whose digest is not known ahead. */
  readonly etag?: string;
  /** The name a client should save it under (`Content-Disposition`), when it is not the URL's last segment. */
  readonly fileName?: string;
  /** When the content was recorded (epoch ms), for Last-Modified; absent when unknown. */
  readonly lastModified?: number;
  /** The content, or `range` of it (both ends inclusive, within the file). */
  open(range?: ByteRange): Promise<Readable>;
}

/** What a recorded blob is: its key and the digests and type recorded with it. */
export interface RecordedBlob {
  readonly key: string;
  readonly contentType: string;
  readonly size: number;
  readonly sha256: string;
  readonly lastModified?: number;
}

/**
 * A Download of a recorded blob. Its key's content must never change (job files and assets are each
 * written to a key of their own), so what is read matches the recorded size and sha256. A blob deleted
 * since it was looked up (its job deleted meanwhile) is `gone()`, a catalog error, rather than a 500.
 */
export function blobDownload(blobs: BlobStore, blob: RecordedBlob, gone: () => DoppelError): Download {
  return {
    contentType: blob.contentType,
    size: blob.size,
    sha256: blob.sha256,
    ...(blob.lastModified !== undefined && { lastModified: blob.lastModified }),
    async open(range) {
      try {
        return await blobs.get(blob.key, range);
      } catch (error) {
        if (error instanceof BlobNotFoundError) throw gone();
        throw error;
      }
    },
  };
}
