import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { BlobTooLargeError } from "./blob-store.js";

/** What a finished body was: its size and digests. */
export interface ContentDigests {
  readonly size: number;
  /** Hex MD5. */
  readonly md5: string;
  /** Hex SHA-256. */
  readonly sha256: string;
}

/**
 * Passes bytes through unchanged while counting them and computing MD5 and SHA-256, so a store learns the
 * digests in the same single pass that writes the body. Fails with BlobTooLargeError as soon as more than
 * `maxBytes` arrive, before the excess reaches the destination.
 */
export class ContentHasher extends Transform {
  readonly #md5 = createHash("md5");
  readonly #sha256 = createHash("sha256");
  readonly #maxBytes: number | undefined;
  #size = 0;

  constructor(maxBytes?: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#maxBytes !== undefined && this.#size > this.#maxBytes) {
      callback(new BlobTooLargeError(this.#maxBytes));
      return;
    }
    this.#md5.update(chunk);
    this.#sha256.update(chunk);
    callback(null, chunk);
  }

  /** The digests of everything that passed; call once, after the stream has ended. */
  digests(): ContentDigests {
    return { size: this.#size, md5: this.#md5.digest("hex"), sha256: this.#sha256.digest("hex") };
  }
}
