import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { DoppelError } from "../domain/errors.js";

/**
 * Signs and checks Doppel's own presigned URLs (uploads to and downloads from the local blob store).
 * The signature covers the method, the path and the expiry, under a key derived from the server key,
 * so a URL works for exactly one file slot until it expires and any change to it makes it invalid.
 */
export class UrlSigner {
  readonly #key: Buffer;

  constructor(serverKey: Buffer) {
    this.#key = Buffer.from(hkdfSync("sha256", serverKey, Buffer.alloc(0), "doppel url signing v1", 32));
  }

  /** `path?expires=<epoch s>&signature=<hex>` for `method` until `expiresAtMs`. */
  sign(method: "GET" | "PUT", path: string, expiresAtMs: number): string {
    const expires = Math.floor(expiresAtMs / 1000);
    return `${path}?expires=${expires}&signature=${this.#mac(method, path, expires).toString("hex")}`;
  }

  /**
   * Throws FORBIDDEN unless `signature` was made by `sign` for this method and path and is unexpired. A
   * HEAD is checked as a GET: it asks for a GET's answer without the body, so a download URL answers it
   * (clients ask a file's size and ETag before a ranged download). This is the one place that says so.
   */
  verify(
    method: string,
    path: string,
    expires: string | undefined,
    signature: string | undefined,
    now: number,
  ): void {
    if (
      expires === undefined ||
      signature === undefined ||
      !/^\d{1,12}$/.test(expires) ||
      !/^[0-9a-f]{64}$/.test(signature)
    ) {
      throw new DoppelError(
        "FORBIDDEN",
        "This URL is not a valid signed Doppel URL (expires and signature are required)",
      );
    }
    const expected = this.#mac(method === "HEAD" ? "GET" : method, path, Number(expires));
    if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
      throw new DoppelError(
        "FORBIDDEN",
        "The URL signature does not match; the URL was altered or is for another file",
      );
    }
    if (Number(expires) * 1000 <= now) {
      throw new DoppelError(
        "FORBIDDEN",
        `The URL expired at ${new Date(Number(expires) * 1000).toISOString()}; ask for a new one`,
      );
    }
  }

  #mac(method: string, path: string, expires: number): Buffer {
    return createHmac("sha256", this.#key).update(`${method}\n${path}\n${expires}`).digest();
  }
}
