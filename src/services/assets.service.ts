import { createHash } from "node:crypto";
import type { Asset } from "../domain/asset.js";
import { DoppelError } from "../domain/errors.js";
import { isHexId } from "../domain/job.js";
import { checkTags, optionalText, requiredText } from "../domain/job-fields.js";
import type { AvatarManifest } from "../pipeline/avatar-package.js";
import { assetPrefix } from "../pipeline/stages/package.stage.js";
import {
  type AssetFilter,
  type AssetPage,
  deleteAssetRow,
  findAsset,
  listAssets as listAssetRows,
  updateAssetFields,
} from "../store/asset.repository.js";
import type { Caller } from "./caller.js";
import type { ServiceContext } from "./context.js";
import { signedUrl } from "./signed-urls.js";

/**
 * Trained avatars as assets: list, show (with every file of the package, each with its size, sha256
 * and a signed download URL), rename and tag, delete. The files are the package the pipeline
 * published under `assets/<id>/`: its manifest lists them, so what a client downloads can be checked
 * against what the pipeline verified.
 */

/**
 * One downloadable file of an asset. MetaStudio files a 2D human model's files under MAIN, COVER,
 * SAMPLE and OTHER (docs/design/asset-apis.md §1.3): MAIN is the whole package as one tar archive,
 * COVER the first face crop, SAMPLE the preview clip, OTHER each file of the package on its own.
 */
export interface AssetFile {
  /** Path inside the asset: `package.tar`, `package/…` for the package's files, `preview.mp4`. */
  readonly path: string;
  readonly category: "MAIN" | "COVER" | "SAMPLE" | "OTHER";
  readonly size: number;
  /** SHA-256 of the file; the archive has none (it is made as it is sent). */
  readonly sha256?: string;
  readonly downloadUrl: string;
}

/** The archive of an asset's whole package, listed as its MAIN file. */
export const PACKAGE_ARCHIVE = "package.tar";

export interface ShownAsset {
  readonly asset: Asset;
  readonly files: readonly AssetFile[];
}

/** The path Doppel serves an asset's file at; signed URLs add `expires` and `signature`. */
export function assetFilePath(assetId: string, path: string): string {
  return `/downloads/assets/${assetId}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/** One of the caller's assets with its files; ASSET_NOT_FOUND otherwise. */
export async function showAsset(
  ctx: ServiceContext,
  caller: Caller,
  assetId: string,
  origin: string,
): Promise<ShownAsset> {
  const asset = await requireAsset(ctx, caller, assetId);
  return { asset, files: await assetFiles(ctx, asset.id, origin) };
}

/** What a caller may narrow an asset list by. */
export type AssetListFilter = Omit<AssetFilter, "projectId" | "appUserId">;

/** A page of the caller's assets and how many match. */
export async function listAssets(
  ctx: ServiceContext,
  caller: Caller,
  filter: AssetListFilter,
  page: AssetPage,
): Promise<{ count: number; assets: Asset[] }> {
  optionalText("name", filter.nameContains, 255);
  optionalText("tag", filter.tagContains, 255);
  return listAssetRows(ctx.database.db, ctx.database.kind, { ...filter, ...scopeOf(caller) }, page);
}

/** A user edit of an asset; absent fields stay as they are. */
export interface AssetEdit {
  readonly name?: string | undefined;
  readonly description?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  /** Activate or deactivate (MetaStudio's UpdateDigitalAsset takes only these two). */
  readonly state?: "ACTIVED" | "UNACTIVED" | undefined;
}

/** Renames, describes, tags, activates or deactivates one of the caller's assets; shows it as it is now. */
export async function updateAsset(
  ctx: ServiceContext,
  caller: Caller,
  assetId: string,
  edit: AssetEdit,
  origin: string,
): Promise<ShownAsset> {
  const asset = await requireAsset(ctx, caller, assetId);
  requireNotDeleted(asset, "updated");
  const now = ctx.now();
  const checked = {
    ...(edit.name !== undefined && { name: requiredText("asset_name", edit.name, 255) }),
    ...(edit.description !== undefined && {
      description: optionalText("asset_description", edit.description, 1024) ?? null,
    }),
    ...(edit.tags !== undefined && { tags: checkTags(edit.tags) }),
    ...(edit.state !== undefined && { state: edit.state }),
  };
  await updateAssetFields(ctx.database.db, asset.id, checked, now);
  return { asset: { ...asset, ...checked, updateTime: now }, files: await assetFiles(ctx, asset.id, origin) };
}

/**
 * Deletes one of the caller's assets. As MetaStudio's DeleteAsset: into the recycle bin (`DELETING`,
 * files kept, `restoreAsset` brings it back), or with `force` for good — record first, then files, so
 * no listing offers files being swept. The job that made it keeps its history either way.
 */
export async function deleteAsset(
  ctx: ServiceContext,
  caller: Caller,
  assetId: string,
  options: { readonly force?: boolean } = {},
): Promise<void> {
  const asset = await requireAsset(ctx, caller, assetId);
  if (!options.force) {
    if (asset.state !== "DELETING") {
      await updateAssetFields(ctx.database.db, asset.id, { state: "DELETING" }, ctx.now());
    }
    return;
  }
  await deleteAssetRow(ctx.database.db, scopeOf(caller), asset.id);
  await ctx.blobs.deletePrefix(assetPrefix(asset.id));
}

/** Takes an asset out of the recycle bin, active again. */
export async function restoreAsset(ctx: ServiceContext, caller: Caller, assetId: string): Promise<Asset> {
  const asset = await requireAsset(ctx, caller, assetId);
  if (asset.state !== "DELETING") {
    throw new DoppelError(
      "INVALID_STATE",
      `Asset ${asset.id} is ${asset.state}, not in the recycle bin (DELETING); only a deleted asset can be restored`,
    );
  }
  const now = ctx.now();
  await updateAssetFields(ctx.database.db, asset.id, { state: "ACTIVED" }, now);
  return { ...asset, state: "ACTIVED", updateTime: now };
}

function requireNotDeleted(asset: Asset, what: string): void {
  if (asset.state === "DELETING") {
    throw new DoppelError(
      "INVALID_STATE",
      `Asset ${asset.id} is in the recycle bin (DELETING) and cannot be ${what}; restore it first`,
    );
  }
}

/** The caller's asset (narrowed to its end user when X-App-UserId was sent), or ASSET_NOT_FOUND. */
export async function requireAsset(ctx: ServiceContext, caller: Caller, assetId: string): Promise<Asset> {
  const asset = isHexId(assetId) ? await findAsset(ctx.database.db, scopeOf(caller), assetId) : undefined;
  if (!asset) {
    throw new DoppelError(
      "ASSET_NOT_FOUND",
      `No asset ${JSON.stringify(assetId.slice(0, 64))} in this project`,
    );
  }
  return asset;
}

/**
 * Every file of an asset: the package's files as its manifest lists them, the manifest itself, and the
 * preview clip. Sizes and digests of the last two are read from the store (they are small).
 */
async function assetFiles(ctx: ServiceContext, assetId: string, origin: string): Promise<AssetFile[]> {
  const prefix = assetPrefix(assetId);
  const packageFiles = await packageFilesOf(ctx, assetId);
  const listed: Array<Omit<AssetFile, "downloadUrl">> = [];
  if (packageFiles.length > 0) {
    listed.push({ path: PACKAGE_ARCHIVE, category: "MAIN", size: tarSize(packageFiles) });
  }
  const cover = packageFiles.find((f) => f.path.startsWith("crops/"));
  for (const file of packageFiles) {
    listed.push({ ...file, path: `package/${file.path}`, category: file === cover ? "COVER" : "OTHER" });
  }
  const preview = await readSmallBlob(ctx, `${prefix}preview.mp4`);
  if (preview) listed.push({ path: "preview.mp4", category: "SAMPLE", ...digestOf(preview) });
  return Promise.all(
    listed.map(async (file) => ({
      ...file,
      downloadUrl: await signedUrl(
        ctx,
        "GET",
        file.path === PACKAGE_ARCHIVE ? undefined : prefix + file.path,
        assetFilePath(assetId, file.path),
        origin,
      ),
    })),
  );
}

/**
 * The files of an asset's package as its manifest lists them (relative paths, sorted), with the
 * manifest itself first. Empty when the package is gone or its manifest unreadable.
 */
export async function packageFilesOf(
  ctx: ServiceContext,
  assetId: string,
): Promise<Array<{ path: string; size: number; sha256: string }>> {
  const bytes = await readSmallBlob(ctx, `${assetPrefix(assetId)}package/manifest.json`);
  if (!bytes) return [];
  let manifest: Partial<AvatarManifest>;
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as Partial<AvatarManifest>;
  } catch {
    return [];
  }
  return [
    { path: "manifest.json", ...digestOf(bytes) },
    ...(manifest.files ?? []).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
  ];
}

/** The size of a ustar archive of these files: a 512-byte header and 512-byte padded data each, two zero blocks. */
export function tarSize(files: ReadonlyArray<{ readonly size: number }>): number {
  return files.reduce((sum, f) => sum + 512 + Math.ceil(f.size / 512) * 512, 1024);
}

/** A small blob whole (a manifest, a preview clip), or undefined when it is not there. */
export async function readSmallBlob(ctx: ServiceContext, key: string): Promise<Buffer | undefined> {
  if (!(await ctx.blobs.head(key))) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await ctx.blobs.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Size and hex SHA-256 of bytes. */
export function digestOf(bytes: Buffer): { size: number; sha256: string } {
  return { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

function scopeOf(caller: Caller) {
  return { projectId: caller.principal.projectId, appUserId: caller.appUserId };
}
