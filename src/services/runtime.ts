import { SecretBox } from "../auth/secret-box.js";
import { loadServerKey } from "../auth/server-key.js";
import { UrlSigner } from "../auth/url-signer.js";
import type { BlobStore } from "../blobs/blob-store.js";
import { LocalBlobStore } from "../blobs/local-blob-store.js";
import { S3BlobStore } from "../blobs/s3-blob-store.js";
import type { Config } from "../config/config.js";
import { type Database, migrateToLatest, openDatabase } from "../store/database.js";
import type { ServiceContext } from "./context.js";

/** A service context with the resources it opened, for the CLI and tests to close. */
export interface Runtime extends ServiceContext {
  close(): Promise<void>;
}

/** Opens the configured database, applies pending migrations and loads the server key. */
export async function openRuntime(
  config: Config,
  options: { pgSchema?: string; now?: () => number } = {},
): Promise<Runtime> {
  const serverKey = loadServerKey(config.serverKey, config.dataDir);
  const secrets = new SecretBox(serverKey);
  const database: Database = await openDatabase({
    url: config.databaseUrl,
    sqlitePath: config.sqlitePath,
    pgSchema: options.pgSchema,
  });
  const blobs = openBlobStore(config.blobStore);
  try {
    await migrateToLatest(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    database,
    secrets,
    blobs,
    urls: new UrlSigner(serverKey),
    config,
    now: options.now ?? Date.now,
    close: async () => {
      await database.close();
      if (blobs instanceof S3BlobStore) blobs.close();
    },
  };
}

function openBlobStore(config: Config["blobStore"]): BlobStore {
  if (config.kind === "local") return new LocalBlobStore(config.root);
  return new S3BlobStore({
    bucket: config.bucket,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    ...(config.prefix !== undefined && { prefix: config.prefix }),
    ...(config.credentials !== undefined && { credentials: config.credentials }),
  });
}
