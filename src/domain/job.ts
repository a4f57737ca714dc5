import { v7 as uuidv7 } from "uuid";
import type { JobState } from "./states.js";

/** Model versions MetaStudio documents; V3 is the default. */
export const MODEL_VERSIONS = ["V2", "V3", "V3.2", "V3.3"] as const;
export const MATTING_TYPES = ["AI", "MANUAL"] as const;
export const MODEL_RESOLUTIONS = ["1080P", "4K"] as const;

/**
 * One training job, seen by both dialects. Times are epoch milliseconds (UTC) so both databases store
 * and compare them the same way; dialects format them on the way out.
 */
export interface Job {
  readonly id: string;
  readonly projectId: string;
  /** End-user id from `X-App-UserId` at creation, or null. */
  readonly appUserId: string | null;
  readonly name: string;
  readonly description: string | null;
  /** ICE avatar type, e.g. `2DAvatar`. */
  readonly avatarType: string;
  readonly state: JobState;
  readonly batchName: string | null;
  readonly tags: readonly string[];
  readonly modelVersion: string;
  readonly mattingType: string;
  readonly modelResolution: string;
  /** Set once the avatar asset exists. */
  readonly assetId: string | null;
  readonly contact: string | null;
  /** Human-readable status detail (ICE `Message`). */
  readonly message: string | null;
  readonly createTime: number;
  /** Last change made by the user (create, update, resubmit). */
  readonly updateTime: number;
  readonly firstTrainingTime: number | null;
  readonly lastTrainingTime: number | null;
}

/** A new job id: a UUIDv7 (so ids sort by creation time) as 32 lowercase hex characters. */
export function newJobId(msecs?: number): string {
  return uuidv7(msecs === undefined ? undefined : { msecs }).replaceAll("-", "");
}

const ID_PATTERN = /^[0-9a-f]{32}$/;

/** True for the 32-hex-character ids Doppel issues for jobs, projects and assets. */
export function isHexId(value: string): boolean {
  return ID_PATTERN.test(value);
}
