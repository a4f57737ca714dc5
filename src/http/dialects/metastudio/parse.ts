import { invalidParameter } from "../../../domain/errors.js";
import { isJobState, type JobState } from "../../../domain/states.js";
import { parseRfc3339, parseRfc3339Until } from "../../../domain/time.js";
import type { AssetListFilter } from "../../../services/assets.service.js";
import type { CreateJobInput } from "../../../services/jobs.service.js";
import type { ListJobsQuery } from "../../../services/list-jobs.service.js";
import type { AssetPage } from "../../../store/asset.repository.js";
import type { CreateJobBody, ListAssetsQueryWire, ListJobsQueryWire } from "./schemas.js";

/** Turns the validated wire query into the service's query (comma lists, RFC 3339 times). */
export function parseListQuery(wire: ListJobsQueryWire): ListJobsQuery {
  return {
    offset: wire.offset,
    limit: wire.limit,
    sortKey: wire.sort_key,
    sortDir: wire.sort_dir,
    states: wire.state === undefined ? undefined : parseStates(wire.state),
    createSince: time("create_since", wire.create_since, parseRfc3339),
    createUntil: time("create_until", wire.create_until, parseRfc3339Until),
    updateSince: time("update_since", wire.update_since, parseRfc3339),
    updateUntil: time("update_until", wire.update_until, parseRfc3339Until),
    queryProjectId: wire.query_project_id,
    batchName: wire.batch_name,
    tag: wire.tag,
    jobId: wire.job_id,
    name: wire.name,
    modelResolution: wire.model_resolution,
  };
}

function parseStates(list: string): JobState[] {
  const states = list.split(",").map((s) => s.trim());
  for (const state of states) {
    if (!isJobState(state)) {
      throw invalidParameter(
        "state",
        state === "" ? "contains an empty entry" : `unknown state ${JSON.stringify(state.slice(0, 64))}`,
      );
    }
  }
  return [...new Set(states as JobState[])];
}

function time(
  name: string,
  value: string | undefined,
  parse: (value: string) => number | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const ms = parse(value);
  if (ms === undefined) {
    throw invalidParameter(
      name,
      `${JSON.stringify(value.slice(0, 64))} is not an RFC 3339 time such as 2024-07-30T10:43:17Z`,
    );
  }
  return ms;
}

/** The job fields of a create or update body, in the service's terms (absent stays absent). */
export function jobInputOf(body: Partial<CreateJobBody>): Omit<CreateJobInput, "name" | "clientToken"> {
  const multipart =
    body.video_multipart_count !== undefined || body.action_video_multipart_count !== undefined;
  return {
    contact: body.contact,
    batchName: body.batch_name,
    tags: body.tags,
    modelVersion: body.model_version,
    modelResolution: body.model_resolution,
    mattingType: body.matting_type,
    options: {
      commandMessage: body.command_message,
      ...(multipart && {
        videoMultipartCount: body.video_multipart_count ?? 1,
        actionVideoMultipartCount: body.action_video_multipart_count ?? 0,
      }),
      isBackgroundReplacement: body.is_background_replacement,
      audioSourceType: body.audio_source_type,
      voiceProperties: body.voice_properties,
      isFlexus: body.is_flexus,
      isLiveCopy: body.is_live_copy,
      isOndemandResource: body.is_ondemand_resource,
      isOnlyHumanModel: body.is_only_human_model,
    },
  };
}

/** The asset list's filter and page in the service's terms, or `undefined` when no asset can match. */
export function parseAssetQuery(
  wire: ListAssetsQueryWire,
): { filter: AssetListFilter; page: AssetPage } | undefined {
  const types = commaList(wire.asset_type);
  const states = commaList(wire.asset_state);
  for (const state of states ?? []) {
    if (!(ASSET_STATE_NAMES as readonly string[]).includes(state)) {
      throw invalidParameter("asset_state", `unknown asset state ${JSON.stringify(state.slice(0, 64))}`);
    }
  }
  const filter: AssetListFilter = {
    types,
    states,
    nameContains: wire.name,
    tagContains: wire.tag,
    ids: commaList(wire.asset_id),
    modelVersion: wire.human_model_2d_version?.replace("_", "."),
    createSince: time("start_time", wire.start_time, parseRfc3339),
    createUntil: time("end_time", wire.end_time, parseRfc3339Until),
  };
  const page: AssetPage = {
    offset: wire.offset,
    limit: wire.limit,
    sortKey: wire.sort_key,
    sortDir: wire.sort_dir,
  };
  // Doppel's assets are all the user's own: a list of system assets is empty.
  return wire.asset_source === "SYSTEM" ? undefined : { filter, page };
}

/** Every state an asset library lists (Doppel's assets are only ever in some of them). */
const ASSET_STATE_NAMES = [
  "CREATING",
  "FAILED",
  "UNACTIVED",
  "ACTIVED",
  "DELETING",
  "DELETED",
  "BLOCK",
  "WAITING_DELETE",
] as const;

function commaList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return [
    ...new Set(
      value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
    ),
  ];
}
