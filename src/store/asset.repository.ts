import type { Kysely, Selectable, Transaction } from "kysely";
import type { Asset, AssetState, AssetType } from "../domain/asset.js";
import type { IceJobFields } from "../domain/job-options.js";
import type { DatabaseKind } from "./database.js";
import { parseJobOptions } from "./job-options-json.js";
import type { AssetsTable, DatabaseSchema } from "./schema.js";
import { containsText } from "./sql-text.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** Records a published asset; a second publication of the same job's asset changes nothing. */
export async function insertAsset(db: Executor, asset: Asset): Promise<void> {
  await insertAssets(db, [asset]);
}

/** Records assets in one statement (the seeder's batches); ones already recorded are left as they are. */
export async function insertAssets(db: Executor, assets: readonly Asset[]): Promise<void> {
  if (assets.length === 0) return;
  await db
    .insertInto("assets")
    .values(
      assets.map((asset) => ({
        id: asset.id,
        project_id: asset.projectId,
        job_id: asset.jobId,
        app_user_id: asset.appUserId,
        name: asset.name,
        description: asset.description,
        tags: JSON.stringify(asset.tags),
        asset_type: asset.assetType,
        state: asset.state,
        model_version: asset.modelVersion,
        model_resolution: asset.modelResolution,
        width: asset.width,
        height: asset.height,
        fps: asset.fps,
        frame_count: asset.frameCount,
        create_time: asset.createTime,
        update_time: asset.updateTime,
      })),
    )
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
}

/** Whose assets a caller sees: a project's, narrowed to one end user when given. */
export interface AssetScope {
  readonly projectId: string;
  readonly appUserId?: string | undefined;
}

/** One of the scope's assets, or undefined. */
export async function findAsset(
  db: Executor,
  scope: AssetScope,
  assetId: string,
): Promise<Asset | undefined> {
  let query = db
    .selectFrom("assets")
    .selectAll()
    .where("project_id", "=", scope.projectId)
    .where("id", "=", assetId);
  if (scope.appUserId !== undefined) query = query.where("app_user_id", "=", scope.appUserId);
  const row = await query.executeTakeFirst();
  return row && fromRow(row);
}

/** An asset by id alone, for downloads authorised by a signed URL rather than a credential. */
export async function findAssetById(db: Executor, assetId: string): Promise<Asset | undefined> {
  const row = await db.selectFrom("assets").selectAll().where("id", "=", assetId).executeTakeFirst();
  return row && fromRow(row);
}

/** The asset a job published, whatever its project (for the job's own views), or undefined. */
export async function findAssetOfJob(db: Executor, jobId: string): Promise<Asset | undefined> {
  const row = await db.selectFrom("assets").selectAll().where("job_id", "=", jobId).executeTakeFirst();
  return row && fromRow(row);
}

/** What an asset list may be narrowed by, besides its scope. */
export interface AssetFilter extends AssetScope {
  readonly types?: readonly string[] | undefined;
  readonly states?: readonly string[] | undefined;
  /** Substring of the name, case-sensitive. */
  readonly nameContains?: string | undefined;
  /** Substring of a tag, case-sensitive (MetaStudio's tag filter is a fuzzy match). */
  readonly tagContains?: string | undefined;
  readonly ids?: readonly string[] | undefined;
  /** The job's model version, e.g. `V3.2`. */
  readonly modelVersion?: string | undefined;
  readonly createSince?: number | undefined;
  readonly createUntil?: number | undefined;
}

export interface AssetPage {
  readonly offset: number;
  readonly limit: number;
  readonly sortKey: "create_time" | "update_time";
  readonly sortDir: "asc" | "desc";
}

/** One page of assets and how many match. Ties on the sort key are broken by id, so pages never overlap. */
export async function listAssets(
  db: Executor,
  kind: DatabaseKind,
  filter: AssetFilter,
  page: AssetPage,
): Promise<{ count: number; assets: Asset[] }> {
  let base = db.selectFrom("assets").where("project_id", "=", filter.projectId);
  if (filter.appUserId !== undefined) base = base.where("app_user_id", "=", filter.appUserId);
  if (filter.types !== undefined) base = base.where("asset_type", "in", [...filter.types, ""]);
  if (filter.states !== undefined) base = base.where("state", "in", [...filter.states, ""]);
  if (filter.nameContains !== undefined) base = base.where(containsText(kind, "name", filter.nameContains));
  // Tags are stored as a JSON array: a substring of one tag is a substring of that text (a match that
  // spans two tags would need a `","` in the filter, which no tag-substring filter means).
  if (filter.tagContains !== undefined) base = base.where(containsText(kind, "tags", filter.tagContains));
  if (filter.ids !== undefined) base = base.where("id", "in", [...filter.ids, ""]);
  if (filter.modelVersion !== undefined) base = base.where("model_version", "=", filter.modelVersion);
  if (filter.createSince !== undefined) base = base.where("create_time", ">=", filter.createSince);
  if (filter.createUntil !== undefined) base = base.where("create_time", "<=", filter.createUntil);
  const [counted, rows] = await Promise.all([
    base.select((eb) => eb.fn.countAll<number | string>().as("count")).executeTakeFirstOrThrow(),
    base
      .selectAll()
      .orderBy(page.sortKey, page.sortDir)
      .orderBy("id", page.sortDir)
      .offset(page.offset)
      .limit(page.limit)
      .execute(),
  ]);
  return { count: Number(counted.count), assets: rows.map(fromRow) };
}

/** Deletes the asset a job published, if any (the job is being deleted). */
export async function deleteAssetsOfJob(db: Executor, jobId: string): Promise<void> {
  await db.deleteFrom("assets").where("job_id", "=", jobId).execute();
}

/** Applies a user edit to an asset (name, description, tags). */
export async function updateAssetFields(
  db: Executor,
  assetId: string,
  edit: {
    readonly name?: string;
    readonly description?: string | null;
    readonly tags?: readonly string[];
    readonly state?: AssetState;
  },
  updateTime: number,
): Promise<void> {
  await db
    .updateTable("assets")
    .set({
      update_time: updateTime,
      ...(edit.name !== undefined && { name: edit.name }),
      ...(edit.description !== undefined && { description: edit.description }),
      ...(edit.tags !== undefined && { tags: JSON.stringify(edit.tags) }),
      ...(edit.state !== undefined && { state: edit.state }),
    })
    .where("id", "=", assetId)
    .execute();
}

/** Deletes an asset's row; false when there was none. */
export async function deleteAssetRow(db: Executor, scope: AssetScope, assetId: string): Promise<boolean> {
  const result = await db
    .deleteFrom("assets")
    .where("project_id", "=", scope.projectId)
    .where("id", "=", assetId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

function fromRow(row: Selectable<AssetsTable>): Asset {
  return {
    id: row.id,
    projectId: row.project_id,
    jobId: row.job_id,
    appUserId: row.app_user_id,
    name: row.name,
    description: row.description,
    tags: parseTags(row.tags),
    assetType: row.asset_type as AssetType,
    state: row.state as AssetState,
    modelVersion: row.model_version,
    modelResolution: row.model_resolution,
    width: row.width === null ? null : Number(row.width),
    height: row.height === null ? null : Number(row.height),
    fps: row.fps === null ? null : Number(row.fps),
    frameCount: row.frame_count === null ? null : Number(row.frame_count),
    createTime: Number(row.create_time),
    updateTime: Number(row.update_time),
  };
}

function parseTags(json: string): string[] {
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === "string") : [];
  } catch {
    return [];
  }
}

/** What ICE shows of a trained avatar: its asset, with the ICE fields of the job that made it. */
export interface AvatarRecord {
  readonly asset: Asset;
  readonly avatarType: string;
  /** Portrait, Thumbnail and Transparent, as given to the job. */
  readonly ice: IceJobFields;
}

/** An avatar of the scope (an asset not in the recycle bin), or undefined. */
export async function findAvatar(
  db: Executor,
  scope: AssetScope,
  assetId: string,
): Promise<AvatarRecord | undefined> {
  const row = await avatarRows(db, scope).where("assets.id", "=", assetId).executeTakeFirst();
  return row && avatarOf(row);
}

/** One page of the scope's avatars, newest first, and how many there are. */
export async function listAvatars(
  db: Executor,
  scope: AssetScope & { readonly avatarType?: string | undefined },
  page: { readonly offset: number; readonly limit: number },
): Promise<{ count: number; avatars: AvatarRecord[] }> {
  let rows = avatarRows(db, scope);
  if (scope.avatarType !== undefined) rows = rows.where("jobs.avatar_type", "=", scope.avatarType);
  const [found, counted] = await Promise.all([
    rows
      .orderBy("assets.create_time", "desc")
      .orderBy("assets.id", "desc")
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    rows
      .clearSelect()
      .select((eb) => eb.fn.countAll<number | string>().as("count"))
      .executeTakeFirstOrThrow(),
  ]);
  return { count: Number(counted.count), avatars: found.map(avatarOf) };
}

function avatarRows(db: Executor, scope: AssetScope) {
  let query = db
    .selectFrom("assets")
    .innerJoin("jobs", "jobs.id", "assets.job_id")
    .selectAll("assets")
    .select(["jobs.avatar_type", "jobs.options"])
    .where("assets.project_id", "=", scope.projectId)
    .where("assets.state", "!=", "DELETING");
  if (scope.appUserId !== undefined) query = query.where("assets.app_user_id", "=", scope.appUserId);
  return query;
}

function avatarOf(row: Selectable<AssetsTable> & { avatar_type: string; options: string }): AvatarRecord {
  return { asset: fromRow(row), avatarType: row.avatar_type, ice: parseJobOptions(row.options).ice ?? {} };
}
