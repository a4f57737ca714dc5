import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { ASSET_STATES } from "../domain/asset.js";
import { exportLiveTalking, LIVETALKING_FACE_SIZE } from "../export/livetalking-export.js";
import type { ClientFlags } from "./api-client.js";
import type { AssetInfo } from "./api-types.js";
import { DEFAULT_DOWNLOAD_CONCURRENCY, type DownloadListener, downloadPackage } from "./asset-download.js";
import { assetListText, assetShowText, downloadText } from "./asset-output.js";
import { clientOf, commaListArg, hexIdArg, integer, withClientFlags } from "./client-flags.js";
import { printResult } from "./job-output.js";
import { DownloadProgress, StepProgress } from "./progress-bar.js";

/** Formats `doppel assets export` writes. */
const EXPORT_FORMATS = ["livetalking"] as const;

const ABOUT = `
An asset is the avatar a successful training job published: its package (manifest.json, idle.mp4,
crops/, masks/, coords.json) and a preview clip. \`download\` fetches the package file by file from the
signed URLs \`show\` lists and checks every file's sha256 against manifest.json; run it again after a
cut download to resume. \`export --format livetalking\` downloads the package to a temporary directory
and writes LiveTalking's wav2lip avatar (full_imgs/, face_imgs/, coords.pkl) into --out.`;

/** `doppel assets …`: trained avatars on a running Doppel, through its MetaStudio asset API. */
export function registerAssetsCommands(program: Command): void {
  const assets = program
    .command("assets")
    .description("list, show, download and export the trained avatars (assets) of a running Doppel")
    .addHelpText("after", ABOUT);

  withClientFlags(assets.command("list").description("list the project's assets, oldest first"))
    .option("--name <text>", "only assets whose name contains this")
    .option("--tag <text>", "only assets with a tag containing this")
    .option(
      "--state <states>",
      `only these states (comma-separated: ${ASSET_STATES.join(", ")})`,
      commaListArg(ASSET_STATES, "state"),
    )
    .option("--limit <n>", "assets per page, 1 to 100", (v) => integer("--limit", v, 1, 100), 10)
    .option("--offset <n>", "assets to skip", (v) => integer("--offset", v, 0, 1_000_000_000), 0)
    .option("--json", "print the API's JSON")
    .action(async (opts: ListOpts, command: Command) => {
      const { name, tag, state: asset_state, limit, offset } = opts;
      const page = await clientOf(command).listAssets({ name, tag, asset_state, limit, offset });
      printResult(opts.json, page, assetListText(page.assets, page.count, offset));
    });

  withClientFlags(assets.command("show").description("show an asset with its files (size, sha256, path)"))
    .requiredOption("--asset <id>", "asset id", assetIdArg)
    .option("--json", "print the API's JSON (with the signed download URLs)")
    .action(async (opts: { asset: string; json?: boolean }, command: Command) => {
      const asset = await clientOf(command).showAsset(opts.asset);
      printResult(opts.json, asset, assetShowText(asset));
    });

  withClientFlags(
    assets
      .command("download")
      .description(
        "download an asset's package into a directory, verifying every file's sha256 (resumes a cut download)",
      ),
  )
    .requiredOption("--asset <id>", "asset id", assetIdArg)
    .requiredOption("--out <dir>", "directory to write the package into (created if needed)")
    .addOption(concurrencyOption())
    .option("--json", "print what was downloaded as JSON")
    .action(async (opts: DownloadOpts, command: Command) => {
      const asset = await clientOf(command).showAsset(opts.asset);
      const result = await downloadWithProgress(asset, opts.out, opts.concurrency);
      printResult(opts.json, result, downloadText(result));
    });

  withClientFlags(
    assets
      .command("export")
      .description("download an asset's package (verified) and export it for another runtime"),
  )
    .requiredOption("--asset <id>", "asset id", assetIdArg)
    .requiredOption(
      "--format <format>",
      "livetalking: LiveTalking's wav2lip avatar (full_imgs/, face_imgs/, coords.pkl)",
      formatArg,
    )
    .requiredOption("--out <dir>", "directory to write the export into: new, or empty")
    .option(
      "--face-size <px>",
      `side of the face images: the model's input (256 for wav2lip256, 96 for the original Wav2Lip; default ${LIVETALKING_FACE_SIZE})`,
      (v) => integer("--face-size", v, 16, 2048),
    )
    .addOption(concurrencyOption())
    .option("--json", "print the result as JSON")
    .action(async (opts: ExportOpts, command: Command) => {
      await requireEmptyDir(opts.out);
      const asset = await clientOf(command).showAsset(opts.asset);
      const result = await whileNotInterrupted(async (signal) => {
        const temporary = await mkdtemp(path.join(tmpdir(), "doppel-export-"));
        try {
          const packageDir = path.join(temporary, "package");
          await downloadWithProgress(asset, packageDir, opts.concurrency, signal);
          const progress = new StepProgress("exporting to LiveTalking");
          const exported = await exportLiveTalking(packageDir, opts.out, {
            faceSize: opts.faceSize,
            signal,
            onProgress: (fraction) => progress.update(fraction),
          });
          progress.end();
          return exported;
        } finally {
          await rm(temporary, { recursive: true, force: true });
        }
      });
      const out = path.resolve(opts.out);
      printResult(
        opts.json,
        {
          asset_id: asset.asset_id,
          format: opts.format,
          out,
          frame_count: result.frameCount,
          width: result.width,
          height: result.height,
          face_size: result.faceSize,
        },
        [
          `exported asset ${asset.asset_id} as a LiveTalking wav2lip avatar into ${out}:`,
          `  full_imgs/  ${result.frameCount} frames, ${result.width}x${result.height}`,
          `  face_imgs/  ${result.frameCount} faces, ${result.faceSize}x${result.faceSize}`,
          `  coords.pkl  ${result.frameCount} face boxes (y1, y2, x1, x2)`,
          `next: copy it to LiveTalking's data/avatars/<avatar_id>/ and start LiveTalking with --model wav2lip --avatar_id <avatar_id>`,
        ].join("\n"),
      );
    });
}

interface ListOpts extends ClientFlags {
  name?: string;
  tag?: string;
  state?: string;
  limit: number;
  offset: number;
  json?: boolean;
}

interface DownloadOpts extends ClientFlags {
  asset: string;
  out: string;
  concurrency: number;
  json?: boolean;
}

interface ExportOpts extends DownloadOpts {
  format: (typeof EXPORT_FORMATS)[number];
  faceSize?: number;
}

/** Downloads the package with a progress bar on stderr. */
async function downloadWithProgress(
  asset: AssetInfo,
  out: string,
  concurrency: number,
  signal?: AbortSignal,
) {
  let progress: DownloadProgress | undefined;
  const listener: DownloadListener = {
    start: (total, files) => {
      progress = new DownloadProgress(total, files);
    },
    bytes: (n) => progress?.bytes(n),
    file: () => progress?.file(),
    note: (message) => progress?.note(message),
  };
  try {
    return await downloadPackage(asset, out, { concurrency, listener, ...(signal && { signal }) });
  } finally {
    progress?.end();
  }
}

/**
 * Runs `work` with a signal that Ctrl-C (SIGINT) or SIGTERM aborts, so that what it cleans up on the
 * way out (the temporary package, a half-written export) is cleaned up on an interrupt too.
 */
async function whileNotInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const stop = (name: string) => () => abort.abort(new Error(`interrupted (${name}); nothing was kept`));
  const onInt = stop("SIGINT");
  const onTerm = stop("SIGTERM");
  process.once("SIGINT", onInt);
  process.once("SIGTERM", onTerm);
  try {
    return await work(abort.signal);
  } catch (error) {
    if (abort.signal.aborted) throw abort.signal.reason;
    throw error;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/** Refuses an --out that holds anything, before anything is downloaded. */
async function requireEmptyDir(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) return;
  if (!info.isDirectory()) throw new Error(`--out ${dir} is a file; export into a new directory`);
  const present = await readdir(dir);
  if (present.length > 0) {
    throw new Error(
      `--out ${dir} is not empty (${present.slice(0, 5).join(", ")}); export into a new directory`,
    );
  }
}

function concurrencyOption(): Option {
  return new Option("--concurrency <n>", "files fetched at once, 1 to 16")
    .argParser((v) => integer("--concurrency", v, 1, 16))
    .default(DEFAULT_DOWNLOAD_CONCURRENCY);
}

const assetIdArg = hexIdArg("asset", "`doppel assets list` or `doppel jobs show`");

function formatArg(raw: string): (typeof EXPORT_FORMATS)[number] {
  const value = raw.trim().toLowerCase();
  const known = EXPORT_FORMATS.find((format) => format === value);
  if (known === undefined) {
    throw new InvalidArgumentError(
      `unknown format ${JSON.stringify(raw.slice(0, 40))}; the one export format is livetalking (LiveTalking's wav2lip avatar: full_imgs/, face_imgs/, coords.pkl).`,
    );
  }
  return known;
}
