/**
 * `doppel assets download`: an asset's avatar package (README, "Avatar package"), file by file, from
 * the signed URLs ShowAsset lists, into a directory that then holds the package as the trainer wrote it.
 *
 * - The manifest comes first (read whole; it is small) and is checked against the sha256 ShowAsset
 *   lists for it; every other file must be listed by both, with the same size and sha256. It is
 *   written last, as the trainer writes it: its presence marks a complete package.
 * - A path that would leave the directory is refused before anything is written.
 * - Each file is fetched, verified and resumed as package-file-fetch.ts says: a file already in place
 *   is skipped, a `.part` left by a cut run is continued, a file that does not match is deleted and
 *   named in the error.
 */
import path from "node:path";
import type { AssetFileInfo, AssetInfo } from "./api-types.js";
import {
  type FileStatus,
  fetchSmall,
  fetchVerified,
  type RemoteFile,
  writeAtomically,
} from "./package-file-fetch.js";
import { runEach } from "./task-pool.js";

export type { FileStatus } from "./package-file-fetch.js";

/** Files fetched at once: a package is hundreds of small PNGs, where round trips dominate. */
export const DEFAULT_DOWNLOAD_CONCURRENCY = 4;

/** The manifest is read whole; a real one is a few hundred KiB. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

const MANIFEST = "manifest.json";

export interface DownloadedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly status: FileStatus;
}

export interface PackageDownload {
  readonly asset_id: string;
  readonly out: string;
  /** Bytes of the package, and those actually received in this run. */
  readonly size: number;
  readonly received: number;
  readonly files: DownloadedFile[];
}

/** What a download reports as it goes (DownloadProgress on the command line). */
export interface DownloadListener {
  start?(total: number, files: number): void;
  bytes?(n: number): void;
  file?(file: DownloadedFile): void;
  note?(message: string): void;
}

export interface DownloadOptions {
  readonly concurrency?: number;
  readonly listener?: DownloadListener;
  readonly signal?: AbortSignal;
}

/** The path of an asset file inside the asset, read from its download URL: `package/…`, `preview.mp4`, `package.tar`. */
export function pathInAsset(assetId: string, file: AssetFileInfo): string {
  let pathname: string;
  try {
    pathname = new URL(file.download_url).pathname;
  } catch {
    return file.file_name;
  }
  // Doppel's own URL (/downloads/assets/<id>/<path>) and an S3 key (…assets/<id>/<path>) alike.
  const marker = `/${assetId}/`;
  const at = pathname.indexOf(marker);
  if (at < 0) return file.file_name;
  try {
    return pathname
      .slice(at + marker.length)
      .split("/")
      .map((segment) => decodeURIComponent(segment))
      .join("/");
  } catch {
    return file.file_name;
  }
}

/**
 * Downloads the package of `asset` (as ShowAsset answered it, with its files) into `outDir`, verified
 * file by file; see the top of this file. Throws naming the file on any mismatch.
 */
export async function downloadPackage(
  asset: AssetInfo,
  outDir: string,
  options: DownloadOptions = {},
): Promise<PackageDownload> {
  const listener = options.listener ?? {};
  const out = path.resolve(outDir);
  const listed = packageFilesListed(asset);
  const manifestFile = listed.get(MANIFEST);
  if (manifestFile === undefined) {
    throw new Error(
      `asset ${asset.asset_id} has no package to download: ShowAsset lists no package/${MANIFEST} (is it ${asset.asset_state}?)`,
    );
  }
  const manifestBytes = await fetchSmall(manifestFile, MAX_MANIFEST_BYTES, options.signal);
  const files = filesOfManifest(manifestBytes, listed, out);
  const total = files.reduce((sum, f) => sum + f.size, manifestBytes.length);
  listener.start?.(total, files.length + 1);

  const done: DownloadedFile[] = [];
  let received = manifestBytes.length;
  const fetchOne = async (file: RemoteFile, signal: AbortSignal) => {
    const status = await fetchVerified(file, safeTarget(out, file.path), {
      signal,
      onReceived: (n) => {
        received += n;
      },
      onProgress: (n) => listener.bytes?.(n),
      note: (message) => listener.note?.(message),
    });
    const result = { path: file.path, size: file.size, sha256: file.sha256, status };
    done.push(result);
    listener.file?.(result);
  };
  await runEach(files, options.concurrency ?? DEFAULT_DOWNLOAD_CONCURRENCY, fetchOne, options.signal);

  const manifestTarget = safeTarget(out, MANIFEST);
  await writeAtomically(manifestTarget, manifestBytes);
  listener.bytes?.(manifestBytes.length);
  const manifestResult: DownloadedFile = {
    path: MANIFEST,
    size: manifestBytes.length,
    sha256: manifestFile.sha256,
    status: "downloaded",
  };
  listener.file?.(manifestResult);
  done.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { asset_id: asset.asset_id, out, size: total, received, files: [manifestResult, ...done] };
}

/** The package's files as ShowAsset lists them (every file under `package/`), by path in the package. */
function packageFilesListed(asset: AssetInfo): Map<string, RemoteFile> {
  const listed = new Map<string, RemoteFile>();
  for (const file of asset.files ?? []) {
    const inAsset = pathInAsset(asset.asset_id, file);
    if (!inAsset.startsWith("package/")) continue;
    const inPackage = inAsset.slice("package/".length);
    if (file.file_sha256 === undefined || !/^[0-9a-f]{64}$/.test(file.file_sha256)) {
      throw new Error(`ShowAsset lists ${inAsset} without a sha256; it cannot be verified`);
    }
    listed.set(inPackage, {
      path: inPackage,
      size: file.file_size,
      sha256: file.file_sha256,
      url: file.download_url,
    });
  }
  return listed;
}

/**
 * The files the manifest lists, each checked against ShowAsset's listing (same size and sha256, nothing
 * listed that the manifest leaves out) and for a path that stays inside `out`.
 */
function filesOfManifest(bytes: Buffer, listed: ReadonlyMap<string, RemoteFile>, out: string): RemoteFile[] {
  let manifest: { format?: unknown; files?: unknown };
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as typeof manifest;
  } catch {
    throw new Error(`${MANIFEST} of the package is not JSON`);
  }
  if (manifest.format !== "doppel-avatar" || !Array.isArray(manifest.files)) {
    throw new Error(
      `${MANIFEST} is not a Doppel avatar package manifest (format "doppel-avatar" with files)`,
    );
  }
  const files: RemoteFile[] = [];
  const seen = new Set<string>([MANIFEST]);
  for (const entry of manifest.files as Array<{ path?: unknown; size?: unknown; sha256?: unknown }>) {
    const { path: file, size, sha256 } = entry ?? {};
    if (
      typeof file !== "string" ||
      typeof size !== "number" ||
      !Number.isSafeInteger(size) ||
      size < 0 ||
      typeof sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(sha256)
    ) {
      throw new Error(
        `${MANIFEST} lists a file without a path, size or sha256: ${JSON.stringify(entry).slice(0, 200)}`,
      );
    }
    safeTarget(out, file);
    if (seen.has(file)) throw new Error(`${MANIFEST} lists ${file} twice`);
    seen.add(file);
    const offered = listed.get(file);
    if (offered === undefined) {
      throw new Error(`${MANIFEST} lists ${file}, but ShowAsset offers no such file`);
    }
    if (offered.size !== size || offered.sha256 !== sha256) {
      throw new Error(
        `${file}: ShowAsset lists ${offered.size} bytes with sha256 ${offered.sha256}, ${MANIFEST} ${size} bytes with sha256 ${sha256}`,
      );
    }
    files.push(offered);
  }
  const extra = [...listed.keys()].filter((file) => !seen.has(file));
  if (extra.length > 0) {
    throw new Error(
      `ShowAsset lists package files that ${MANIFEST} does not: ${extra.slice(0, 5).join(", ")}`,
    );
  }
  return files;
}

/**
 * Where a package path goes inside `out`; refuses one that would land anywhere else (absolute, `..`,
 * backslashes, empty or `.` segments) or that collides with the download's own `.part` names.
 */
function safeTarget(out: string, file: string): string {
  const name = JSON.stringify(file.slice(0, 200));
  const segments = file.split("/");
  const target = path.resolve(out, ...segments);
  const relative = path.relative(out, target);
  if (
    file.length === 0 ||
    file.length > 1024 ||
    path.isAbsolute(file) ||
    segments.some((s) => s === "" || s === "." || s === ".." || /[\\\0]/.test(s)) ||
    relative === "" ||
    relative.startsWith("..") ||
    path.isAbsolute(relative)
  ) {
    throw new Error(`the package names a file ${name} that would be written outside ${out}; refused`);
  }
  if (file.endsWith(".part")) {
    throw new Error(`the package names a file ${name}; .part names are the download's own partial files`);
  }
  return target;
}
