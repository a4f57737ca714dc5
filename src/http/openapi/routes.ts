import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { buildOpenApiDocuments, DOCUMENT_NAMES, type DocumentName } from "./documents.js";
import type { JsonObject } from "./json-schema.js";
import type { CatalogedRoute } from "./route-catalog.js";

/** What each document is called in the reference's drop-down, in its order. */
const TITLES: Record<DocumentName, string> = {
  metastudio: "MetaStudio (Huawei)",
  ice: "ICE (Alibaba)",
  admin: "Admin",
  worker: "Worker protocol",
};

/** The files of swagger-ui-dist the page loads, with their types: all served from here, none fetched. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

/**
 * The API reference: `/openapi/{metastudio,ice,admin,worker}.json` (OpenAPI 3.1, generated from the
 * route schemas the first time one is asked for, when every route is registered) and `/docs`, Swagger
 * UI over the four. Everything the page loads comes from this server, so it works offline; its
 * validator badge (the one call Swagger UI makes elsewhere) is off. No credentials: the reference
 * describes the API and holds no data.
 */
export async function openApiRoutes(
  app: FastifyInstance,
  opts: { routes: readonly CatalogedRoute[] },
): Promise<void> {
  let documents: Record<DocumentName, JsonObject> | undefined;
  const documentsOf = () => {
    documents ??= buildOpenApiDocuments(opts.routes);
    return documents;
  };

  for (const name of DOCUMENT_NAMES) {
    app.get(`/openapi/${name}.json`, async (_request, reply) =>
      reply.header("Cache-Control", "no-cache").send(documentsOf()[name]),
    );
  }

  const page = docsPage();
  app.get("/docs", async (_request, reply) =>
    reply.header("Content-Type", "text/html; charset=utf-8").header("Cache-Control", "no-cache").send(page),
  );

  const dist = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const cache = new Map<string, Buffer>();
  for (const [file, type] of Object.entries(ASSETS)) {
    app.get(`/docs/${file}`, async (_request, reply) => {
      let bytes = cache.get(file);
      if (bytes === undefined) {
        bytes = await readFile(path.join(dist, file));
        cache.set(file, bytes);
      }
      return reply.header("Content-Type", type).header("Cache-Control", "public, max-age=86400").send(bytes);
    });
  }
}

/** Swagger UI's page with a drop-down of the four documents. */
function docsPage(): string {
  const urls = DOCUMENT_NAMES.map((name) => ({ url: `/openapi/${name}.json`, name: TITLES[name] }));
  const config = {
    urls,
    "urls.primaryName": TITLES.metastudio,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Swagger UI would otherwise send every document to validator.swagger.io for its badge.
    validatorUrl: null,
    layout: "StandaloneLayout",
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Doppel API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle(Object.assign(${JSON.stringify(config)}, {
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
}));
</script>
</body>
</html>
`;
}
