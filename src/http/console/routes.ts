import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../../config/config.js";
import { DoppelError } from "../../domain/errors.js";

/** Where `npm run build:console` writes the console (`dist/console`, from src/ or from dist/ alike). */
export const CONSOLE_DIR = fileURLToPath(new URL("../../../dist/console/", import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * The console's page rules: its own scripts and styles only (nothing from elsewhere, no inline code);
 * uploads, images and videos also to and from `fileOrigins`, the blob store's (an S3 store's presigned
 * URLs; none for the local store, whose URLs are Doppel's own); no framing; no referrer, so a page's
 * address never leaves with a request.
 */
export function consoleHeaders(fileOrigins: readonly string[]): Record<string, string> {
  const files = ["'self'", ...fileOrigins].join(" ");
  return {
    "content-security-policy": [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      `img-src ${files} data: blob:`,
      `media-src ${files} blob:`,
      `connect-src ${files}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join("; "),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
  };
}

/** Where an S3 store's presigned URLs point: its endpoint's origin, or AWS's S3 hosts. */
export function blobStoreOrigins(store: Config["blobStore"]): string[] {
  if (store.kind === "local") return [];
  return [store.endpoint === undefined ? "https://*.amazonaws.com" : new URL(store.endpoint).origin];
}

/**
 * `/console/`: the web console, built by Vite into dist/console, served from memory (a few files, read
 * once). Hashed assets are cached for good; the page itself is revalidated. Without a build, a clear
 * error says how to make one.
 */
export async function consoleRoutes(
  app: FastifyInstance,
  options: { readonly fileOrigins: readonly string[] },
): Promise<void> {
  const files = readBuild();
  const securityHeaders = consoleHeaders(options.fileOrigins);
  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    // The router ignores trailing slashes, so `/console/` reaches the `/console` route too; the page's
    // relative asset paths need the slash.
    if (request.url.split("?")[0] === "/console") return reply.redirect("/console/", 301);
    if (files === undefined) {
      throw new DoppelError(
        "API_NOT_FOUND",
        "The console is not built: run `npm run build:console` (npm install does)",
      );
    }
    const path = (request.params as { "*"?: string })["*"] ?? "";
    // A path of the app itself (a reload on a deep link) gets the page; the app routes in the browser.
    const file = files.get(path === "" ? "index.html" : path) ?? files.get("index.html");
    if (file === undefined) throw new DoppelError("API_NOT_FOUND", "No such console file");
    const immutable = path.startsWith("assets/") && files.has(path);
    return reply
      .headers(securityHeaders)
      .header("content-type", file.type)
      .header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache")
      .send(file.bytes);
  };
  app.get("/console", serve);
  app.get("/console/*", serve);
}

/** The built files by path under dist/console, or undefined when there is no build. */
function readBuild(): Map<string, { bytes: Buffer; type: string }> | undefined {
  if (!existsSync(join(CONSOLE_DIR, "index.html"))) return undefined;
  const files = new Map<string, { bytes: Buffer; type: string }>();
  for (const entry of readdirSync(CONSOLE_DIR, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = full.slice(CONSOLE_DIR.length).split("\\").join("/");
    files.set(path, {
      bytes: readFileSync(full),
      type: TYPES[extname(entry.name)] ?? "application/octet-stream",
    });
  }
  return files;
}
