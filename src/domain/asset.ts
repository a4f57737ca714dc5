import type { Job } from "./job.js";

/**
 * A trained avatar: what the package stage publishes from a finished job. It has a life of its own —
 * renamed, tagged, listed and deleted through the asset APIs — but stays tied to the job that made it.
 * Its files are the avatar package's, listed with size and sha256 by the package's manifest.
 */
export interface Asset {
  readonly id: string;
  readonly projectId: string;
  readonly jobId: string;
  /** The end user the job was made for (X-App-UserId), or null. */
  readonly appUserId: string | null;
  readonly name: string;
  readonly description: string | null;
  readonly tags: readonly string[];
  readonly assetType: AssetType;
  readonly state: AssetState;
  /** What the 2D human model was trained as: the job's model version (`V3.2`) and resolution. */
  readonly modelVersion: string;
  readonly modelResolution: string;
  /**
   * The avatar's frame size (its idle loop's, the training video's) and frame rate; null for an asset
   * published before Doppel recorded them.
   */
  readonly width: number | null;
  readonly height: number | null;
  readonly fps: number | null;
  readonly frameCount: number | null;
  readonly createTime: number;
  readonly updateTime: number;
}

/** The asset type of a trained 2D digital human (MetaStudio's name for it). */
export const ASSET_TYPES = ["HUMAN_MODEL_2D"] as const;
export type AssetType = (typeof ASSET_TYPES)[number];

/**
 * The states an asset can be in (MetaStudio's names): published assets are `ACTIVED`; a user may
 * deactivate one (`UNACTIVED`); a delete without `mode=force` moves it to the recycle bin (`DELETING`),
 * files kept, until it is restored or deleted for good.
 */
export const ASSET_STATES = ["ACTIVED", "UNACTIVED", "DELETING"] as const;
export type AssetState = (typeof ASSET_STATES)[number];

/** What the package stage learned of a package it published, for the asset's record. */
export interface PublishedPackage {
  readonly assetId: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameCount: number;
}

/**
 * The record of the asset a job publishes: named, described and tagged as the job is, active. `published`
 * is what the package stage learned of the package (null for assets that have no package to read).
 */
export function assetOfJob(
  job: Job,
  assetId: string,
  published: Omit<PublishedPackage, "assetId"> | null,
  now: number,
): Asset {
  return {
    id: assetId,
    projectId: job.projectId,
    jobId: job.id,
    appUserId: job.appUserId,
    name: job.name,
    description: job.description,
    tags: job.tags,
    assetType: "HUMAN_MODEL_2D",
    state: "ACTIVED",
    modelVersion: job.modelVersion,
    modelResolution: job.modelResolution,
    width: published?.width ?? null,
    height: published?.height ?? null,
    fps: published?.fps ?? null,
    frameCount: published?.frameCount ?? null,
    createTime: now,
    updateTime: now,
  };
}
