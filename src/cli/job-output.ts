import type { JobDetail, JobInfo } from "./api-types.js";
import { formatBytes } from "./progress-bar.js";
import type { UploadSummary } from "./training-video-upload.js";

/** Prints `value` as JSON with `--json`, `text` otherwise. */
export function printResult(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/** The parts of an upload and what the server assembled. */
export function uploadText(summary: UploadSummary): string {
  const total = summary.parts.length;
  const lines = summary.parts.map((p) =>
    p.status === "skipped"
      ? `part ${p.partNumber}/${total}: already uploaded, skipped (${formatBytes(p.bytes)}, md5 ${p.md5})`
      : `part ${p.partNumber}/${total}: sent ${formatBytes(p.bytes)} (md5 ${p.md5})`,
  );
  lines.push(
    `assembled ${total} part${total > 1 ? "s" : ""}: ${summary.size} bytes${summary.sha256 ? `, sha256 ${summary.sha256}` : ""}`,
    `next: doppel jobs submit --job ${summary.job_id}`,
  );
  return lines.join("\n");
}

/** A job's fields, one a line, then its history. */
export function showText(job: JobDetail): string {
  const rows: Array<[string, string | undefined]> = [
    ["job_id", job.job_id],
    ["name", job.name],
    ["state", job.state],
    ["project_id", job.project_id],
    ["created", job.create_time],
    ["updated", job.last_update_time],
    ["batch", job.batch_name],
    ["tags", job.tags.length > 0 ? job.tags.join(", ") : undefined],
    ["model", `${job.model_version} ${job.model_resolution}, matting ${job.matting_type}`],
    ["video parts", String(job.video_multipart_count)],
    ["training video", job.training_video_download_url],
    ["asset", job.asset_id],
    ["cover", job.cover_download_url],
  ];
  const lines = fieldLines(rows);
  lines.push("history:", ...job.operation_logs.flatMap((log) => historyLines(log, "  ")));
  return lines.join("\n");
}

/** One history entry: time, type and description after `indent`, then its redo reasons. */
export function historyLines(log: JobDetail["operation_logs"][number], indent = ""): string[] {
  return [
    `${indent}${log.operate_time}  ${log.log_type.padEnd(28)} ${log.log_description}`,
    ...(log.redo_reasons ?? []).map((reason) => `      - ${reason}`),
  ];
}

/** A page of jobs as a table, with where the next page starts. */
export function listText(jobs: readonly JobInfo[], count: number, offset: number): string {
  const rows = jobs.map((j) => [
    j.job_id,
    j.state,
    j.create_time,
    clip(j.name, 32),
    clip(j.batch_name ?? "", 20),
    clip(j.tags.join(","), 30),
  ]);
  return pageText("jobs", ["JOB ID", "STATE", "CREATED", "NAME", "BATCH", "TAGS"], rows, count, offset);
}

/** Named fields, one a line (`name:` padded), leaving out those without a value. */
export function fieldLines(rows: ReadonlyArray<readonly [string, string | undefined]>): string[] {
  return rows
    .filter((row): row is readonly [string, string] => row[1] !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(16)}${v}`);
}

/** Rows under a header, each column as wide as its widest cell. */
export function tableLines(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const format = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [format(header), ...rows.map(format)];
}

/** A page of a list (`noun`: "jobs", "assets") as a table, with where the next page starts. */
export function pageText(
  noun: string,
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  count: number,
  offset: number,
): string {
  if (rows.length === 0)
    return count === 0 ? `no ${noun}` : `no ${noun} at offset ${offset} (${count} in all)`;
  const last = offset + rows.length;
  const footer =
    last < count
      ? `${noun} ${offset + 1}-${last} of ${count}; next page: --offset ${last}`
      : `${noun} ${offset + 1}-${last} of ${count}`;
  return [...tableLines(header, rows), footer].join("\n");
}

export function clip(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}
