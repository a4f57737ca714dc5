import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack } from "tar-stream";
import { DoppelError } from "../domain/errors.js";
import { isHexId } from "../domain/job.js";
import { assetPrefix } from "../pipeline/stages/package.stage.js";
import { findAssetById } from "../store/asset.repository.js";
import { digestOf, PACKAGE_ARCHIVE, packageFilesOf, readSmallBlob, tarSize } from "./assets.service.js";
import type { ServiceContext } from "./context.js";
import { blobDownload, type Download } from "./downloads.js";

/**
 * The files behind an asset's signed download URLs (assets.service.ts lists them): one file of the
 * package or the preview clip, or the whole package as one tar archive. The signed URL is the
 * credential; the asset must still exist.
 */

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  mp4: "video/mp4",
  png: "image/png",
  json: "application/json",
};

/** One file of an asset (`package/<path>` as its manifest lists it, or `preview.mp4`). */
export async function assetFileDownload(
  ctx: ServiceContext,
  assetId: string,
  path: string,
): Promise<Download> {
  const files = await filesOfExistingAsset(ctx, assetId);
  const prefix = assetPrefix(assetId);
  const gone = () => notFound(assetId, path);
  if (path === "preview.mp4") {
    // The preview is small and not in the manifest: its digest is taken as it is served.
    const bytes = await readSmallBlob(ctx, `${prefix}preview.mp4`);
    if (!bytes) throw gone();
    return blobDownload(
      ctx.blobs,
      { key: `${prefix}preview.mp4`, contentType: "video/mp4", ...digestOf(bytes) },
      gone,
    );
  }
  const file = path.startsWith("package/") ? files.find((f) => `package/${f.path}` === path) : undefined;
  if (!file) throw gone();
  const extension = file.path.split(".").at(-1) ?? "";
  return blobDownload(
    ctx.blobs,
    {
      key: `${prefix}${path}`,
      contentType: CONTENT_TYPES[extension] ?? "application/octet-stream",
      size: file.size,
      sha256: file.sha256,
    },
    gone,
  );
}

/**
 * The whole package of an asset as a tar archive, made as it is sent (never whole in memory or on
 * disk). Its bytes are the same on every download — entries in manifest order, a fixed mtime — so it
 * has a strong validator (`etag`, from the manifest, which pins every file's content) and a byte range
 * of it can be served: from the first entry the range touches, skipping to its start.
 */
export async function assetArchiveDownload(ctx: ServiceContext, assetId: string): Promise<Download> {
  const files = await filesOfExistingAsset(ctx, assetId);
  const manifest = files[0];
  if (manifest === undefined) throw notFound(assetId, PACKAGE_ARCHIVE);
  const prefix = `${assetPrefix(assetId)}package/`;
  const size = tarSize(files);
  return {
    contentType: "application/x-tar",
    size,
    fileName: `${assetId}.tar`,
    etag: `"tar-${manifest.sha256}"`,
    async open(range) {
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      // Entries before the range are not read at all: an entry's bytes do not depend on those before it.
      let offset = 0;
      let first = 0;
      while (first < files.length && offset + entrySize(files[first] as { size: number }) <= start) {
        offset += entrySize(files[first] as { size: number });
        first++;
      }
      const archive = pack();
      let windowDone = false;
      (async () => {
        for (const file of files.slice(first)) {
          // Past the range the rest of the archive is not made: no later entry is read.
          if (windowDone) break;
          const entry = archive.entry({ name: file.path, size: file.size, mtime: new Date(0), mode: 0o644 });
          await pipeline(await ctx.blobs.get(`${prefix}${file.path}`), entry);
        }
        archive.finalize();
      })().catch((error: unknown) => archive.destroy(error as Error));
      return archive.pipe(
        byteWindow(start - offset, end - offset + 1, () => {
          windowDone = true;
        }),
      );
    },
  };
}

/** A tar entry's bytes: its header block and its data padded to whole blocks. */
function entrySize(file: { readonly size: number }): number {
  return 512 + Math.ceil(file.size / 512) * 512;
}

/** Passes on bytes [from, to) of what is written to it, then ends and calls `finished`. */
function byteWindow(from: number, to: number, finished: () => void): Transform {
  let position = 0;
  let ended = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (ended) return done();
      const chunkStart = position;
      position += chunk.length;
      const a = Math.max(from - chunkStart, 0);
      const b = Math.min(to - chunkStart, chunk.length);
      if (b > a) this.push(chunk.subarray(a, b));
      if (position >= to) {
        ended = true;
        this.push(null);
        finished();
      }
      done();
    },
  });
}

async function filesOfExistingAsset(ctx: ServiceContext, assetId: string) {
  const asset = isHexId(assetId) ? await findAssetById(ctx.database.db, assetId) : undefined;
  if (!asset) throw new DoppelError("ASSET_NOT_FOUND", `No asset ${assetId.slice(0, 64)}`);
  return packageFilesOf(ctx, asset.id);
}

function notFound(assetId: string, path: string): DoppelError {
  return new DoppelError(
    "ASSET_NOT_FOUND",
    `Asset ${assetId} has no file ${JSON.stringify(path.slice(0, 200))}`,
  );
}
