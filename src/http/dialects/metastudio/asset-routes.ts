import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  deleteAsset,
  listAssets,
  restoreAsset,
  showAsset,
  updateAsset,
} from "../../../services/assets.service.js";
import type { Caller } from "../../../services/caller.js";
import type { ServiceContext } from "../../../services/context.js";
import { EmptyBody } from "../../schemas/empty-body.js";
import { ErrorSchema } from "../../schemas/error-body.js";
import { strictIntegerQuery } from "../../schemas/strict-integers.js";
import { parseAssetQuery } from "./parse.js";
import { presentAsset } from "./presenter.js";
import {
  AssetParamsSchema,
  DeleteAssetQuerySchema,
  DigitalAssetInfoSchema,
  ListAssetsQuerySchema,
  ListAssetsResponseSchema,
  ProjectParamsSchema,
  UpdateAssetBodySchema,
} from "./schemas.js";

export const ASSETS_PATH = "/v1/:project_id/digital-assets";

/** The group of these operations in the OpenAPI document. */
const TAG = "Assets";

const errors = { "4xx": ErrorSchema, "5xx": ErrorSchema };

/**
 * MetaStudio's asset library, the part that holds trained 2D human models (ListAssets, ShowAsset,
 * UpdateDigitalAsset, DeleteAsset, RestoreAsset). Registered inside the MetaStudio plugin, so it shares
 * its authentication; `callerOf` and `originOf` are the plugin's.
 */
export function assetRoutes(
  parent: FastifyInstance,
  ctx: ServiceContext,
  callerOf: (request: FastifyRequest) => Caller,
  originOf: (request: FastifyRequest) => string,
): void {
  const app = parent.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    ASSETS_PATH,
    {
      preValidation: strictIntegerQuery(ListAssetsQuerySchema),
      schema: {
        operationId: "ListAssets",
        summary: "List assets (trained avatars)",
        tags: [TAG],
        params: ProjectParamsSchema,
        querystring: ListAssetsQuerySchema,
        response: { 200: ListAssetsResponseSchema, ...errors },
      },
    },
    async (request) => {
      const query = parseAssetQuery(request.query);
      if (query === undefined) return { count: 0, assets: [] };
      const { count, assets } = await listAssets(ctx, callerOf(request), query.filter, query.page);
      return { count, assets: assets.map((asset) => presentAsset(asset)) };
    },
  );

  app.get(
    `${ASSETS_PATH}/:asset_id`,
    {
      schema: {
        operationId: "ShowAsset",
        summary: "Show an asset with its files",
        description: "Every file with its size, SHA-256 and a signed download URL valid 24 hours.",
        tags: [TAG],
        params: AssetParamsSchema,
        response: { 200: DigitalAssetInfoSchema, ...errors },
      },
    },
    async (request) => {
      const shown = await showAsset(ctx, callerOf(request), request.params.asset_id, originOf(request));
      return presentAsset(shown.asset, shown.files);
    },
  );

  app.put(
    `${ASSETS_PATH}/:asset_id`,
    {
      schema: {
        operationId: "UpdateDigitalAsset",
        summary: "Rename, describe, tag, activate or deactivate an asset",
        tags: [TAG],
        params: AssetParamsSchema,
        body: UpdateAssetBodySchema,
        response: { 200: DigitalAssetInfoSchema, ...errors },
      },
    },
    async (request) => {
      const { asset_name, asset_description, tags, asset_state } = request.body;
      const shown = await updateAsset(
        ctx,
        callerOf(request),
        request.params.asset_id,
        { name: asset_name, description: asset_description, tags, state: asset_state },
        originOf(request),
      );
      return presentAsset(shown.asset, shown.files);
    },
  );

  app.delete(
    `${ASSETS_PATH}/:asset_id`,
    {
      schema: {
        operationId: "DeleteAsset",
        summary: "Delete an asset: into the recycle bin, or for good with mode=force",
        tags: [TAG],
        params: AssetParamsSchema,
        querystring: DeleteAssetQuerySchema,
        response: { 200: EmptyBody("Deleted (or moved to the recycle bin); the body is empty"), ...errors },
      },
    },
    async (request, reply) => {
      await deleteAsset(ctx, callerOf(request), request.params.asset_id, {
        force: request.query.mode === "force",
      });
      // As DeleteAsset documents: 200 with only the X-Request-Id header.
      return reply.status(200).send(undefined);
    },
  );

  app.post(
    `${ASSETS_PATH}/:asset_id/restore`,
    {
      schema: {
        operationId: "RestoreAsset",
        summary: "Take an asset out of the recycle bin",
        tags: [TAG],
        params: AssetParamsSchema,
        response: { 200: EmptyBody("Restored; the body is empty"), ...errors },
      },
    },
    async (request, reply) => {
      await restoreAsset(ctx, callerOf(request), request.params.asset_id);
      return reply.status(200).send(undefined);
    },
  );
}
