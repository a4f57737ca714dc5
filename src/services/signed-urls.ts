import { FILE_URL_TTL_MS } from "../domain/job-files.js";
import type { ServiceContext } from "./context.js";

/**
 * A signed URL to GET (download) or PUT (upload) the blob at `blobKey`: the blob store's own presigned
 * URL when it has them (S3: clients then talk to the bucket, not to Doppel), else Doppel's — `origin`
 * and `doppelPath`, a path Doppel serves, signed by `ctx.urls`. Content that is no blob (an archive
 * Doppel makes as it sends it) has no `blobKey` and always gets Doppel's URL. Valid `ttlMs`, 24 hours
 * unless said otherwise, as both clouds document.
 */
export async function signedUrl(
  ctx: ServiceContext,
  method: "GET" | "PUT",
  blobKey: string | undefined,
  doppelPath: string,
  origin: string,
  ttlMs = FILE_URL_TTL_MS,
): Promise<string> {
  const presign = method === "GET" ? ctx.blobs.presignGet : ctx.blobs.presignPut;
  return presign && blobKey !== undefined
    ? presign.call(ctx.blobs, blobKey, ttlMs / 1000)
    : origin + ctx.urls.sign(method, doppelPath, ctx.now() + ttlMs);
}
