import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { assetArchiveDownload, assetFileDownload } from "../../services/asset-downloads.js";
import { PACKAGE_ARCHIVE } from "../../services/assets.service.js";
import type { ServiceContext } from "../../services/context.js";
import { serveDownload } from "../downloads/serve-download.js";

const Params = Type.Object({
  asset_id: Type.String({ maxLength: 64 }),
  "*": Type.String({ maxLength: 1024 }),
});
const SignedQuery = Type.Object({
  expires: Type.Optional(Type.String({ maxLength: 16 })),
  signature: Type.Optional(Type.String({ maxLength: 128 })),
});

/**
 * `GET|HEAD /downloads/assets/{asset_id}/{path}?expires=…&signature=…`: the signed download URLs that
 * ShowAsset lists — each file of the package, the preview clip, and `package.tar`, the whole package
 * as one archive made as it is sent — all with HEAD, ranges and validators, as job files. The
 * signature is the credential.
 */
export async function assetDownloadRoutes(
  app: FastifyInstance,
  opts: { ctx: ServiceContext },
): Promise<void> {
  const { ctx } = opts;
  app.route({
    method: ["GET", "HEAD"],
    url: "/downloads/assets/:asset_id/*",
    // The signature covers the exact path (a HEAD is checked as a GET), before anything else is read.
    preValidation: async (request: FastifyRequest) => {
      const query = request.query as { expires?: string; signature?: string };
      const rawPath = (request.raw.url ?? "").split("?")[0] ?? "";
      ctx.urls.verify(request.method, rawPath, query.expires, query.signature, ctx.now());
    },
    schema: { params: Params, querystring: SignedQuery },
    handler: async (request, reply) => {
      const { asset_id: assetId, "*": path } = request.params as { asset_id: string; "*": string };
      const download =
        path === PACKAGE_ARCHIVE
          ? await assetArchiveDownload(ctx, assetId)
          : await assetFileDownload(ctx, assetId, path);
      return serveDownload(request, reply, download);
    },
  });
}
