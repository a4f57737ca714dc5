import { DEFAULT_JOB_OPTIONS, type IceJobFields, type JobOptions } from "../domain/job-options.js";

/**
 * A job's options as stored (a JSON object in `jobs.options`), read back. Values of the wrong type are
 * dropped rather than trusted, and damaged JSON reads as the defaults: the column is Doppel's own, so
 * either would be a bug, and a bug must not turn every read of the job into a 500.
 */
export function parseJobOptions(json: string): JobOptions {
  let stored: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    stored = isObject(parsed) ? parsed : {};
  } catch {
    stored = {};
  }
  const { ice, iceVideo, icePortrait, iceThumbnail, iceTransparent, ...rest } = stored;
  // Before ICE's fields had a key of their own they were stored flat (`icePortrait`, …); read both.
  const legacy = { portrait: icePortrait, thumbnail: iceThumbnail, transparent: iceTransparent };
  const fields = iceFields({ ...legacy, ...(isObject(ice) ? ice : {}) });
  return {
    ...DEFAULT_JOB_OPTIONS,
    ...(rest as Partial<JobOptions>),
    ...(Object.keys(fields).length > 0 && { ice: fields }),
  };
}

function iceFields(value: Record<string, unknown>): IceJobFields {
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const portrait = text(value.portrait);
  const thumbnail = text(value.thumbnail);
  return {
    ...(portrait !== undefined && { portrait }),
    ...(thumbnail !== undefined && { thumbnail }),
    ...(typeof value.transparent === "boolean" && { transparent: value.transparent }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
