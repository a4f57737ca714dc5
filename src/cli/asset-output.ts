import type { AssetInfo } from "./api-types.js";
import type { PackageDownload } from "./asset-download.js";
import { pathInAsset } from "./asset-download.js";
import { clip, fieldLines, pageText, tableLines } from "./job-output.js";
import { formatBytes } from "./progress-bar.js";

/** A page of assets as a table, with where the next page starts. */
export function assetListText(assets: readonly AssetInfo[], count: number, offset: number): string {
  const rows = assets.map((a) => [
    a.asset_id,
    a.asset_state,
    a.create_time,
    clip(a.asset_name, 32),
    a.job_id ?? "",
  ]);
  return pageText("assets", ["ASSET ID", "STATE", "CREATED", "NAME", "JOB"], rows, count, offset);
}

/** An asset's fields, one a line, then its files with category, size, sha256 and path in the asset. */
export function assetShowText(asset: AssetInfo): string {
  const meta = asset.asset_extra_meta?.human_model_2d_meta;
  const files = asset.files ?? [];
  const lines = fieldLines([
    ["asset_id", asset.asset_id],
    ["name", asset.asset_name],
    ["state", asset.asset_state],
    ["type", asset.asset_type],
    ["project_id", asset.project_id],
    ["job", asset.job_id],
    ["created", asset.create_time],
    ["updated", asset.update_time],
    ["description", asset.asset_description],
    ["tags", asset.tags.length > 0 ? asset.tags.join(", ") : undefined],
    ["model", meta ? `${meta.model_version ?? "?"} ${meta.model_resolution ?? ""}`.trim() : undefined],
  ]);
  const total = files
    .filter((f) => f.asset_file_category !== "MAIN")
    .reduce((sum, f) => sum + f.file_size, 0);
  lines.push(...fieldLines([["files", `${files.length} (${formatBytes(total)} without the archive)`]]));
  const rows = files.map((f) => [
    f.asset_file_category,
    formatBytes(f.file_size),
    f.file_sha256 ?? "-",
    pathInAsset(asset.asset_id, f),
  ]);
  lines.push(...tableLines(["CATEGORY", "SIZE", "SHA256", "FILE"], rows).map((line) => `  ${line}`));
  if (files.length > 0) {
    lines.push(
      `next: doppel assets download --asset ${asset.asset_id} --out <dir>  (or: doppel assets export --asset ${asset.asset_id} --format livetalking --out <dir>)`,
    );
  }
  return lines.join("\n");
}

/** What a download did, file counts by outcome. */
export function downloadText(result: PackageDownload): string {
  const count = (status: string) => result.files.filter((f) => f.status === status).length;
  const parts = [
    `${count("downloaded")} downloaded`,
    ...(count("resumed") > 0 ? [`${count("resumed")} resumed`] : []),
    ...(count("skipped") > 0 ? [`${count("skipped")} already there`] : []),
  ];
  return [
    `downloaded asset ${result.asset_id} into ${result.out}: ${result.files.length} files, ${formatBytes(result.size)} (${parts.join(", ")}; ${formatBytes(result.received)} received)`,
    "every file's sha256 matches manifest.json",
  ].join("\n");
}
