import type { SecretBox } from "../auth/secret-box.js";
import type { UrlSigner } from "../auth/url-signer.js";
import type { BlobStore } from "../blobs/blob-store.js";
import type { Config } from "../config/config.js";
import type { Database } from "../store/database.js";

/** What every use case needs: the database, the secret box and a clock. Built once per process. */
export interface ServiceContext {
  readonly database: Database;
  readonly secrets: SecretBox;
  /** Where job files live. */
  readonly blobs: BlobStore;
  /** Signs the upload and download URLs Doppel serves itself. */
  readonly urls: UrlSigner;
  readonly config: Config;
  /** Epoch milliseconds; injected so tests can move time. */
  readonly now: () => number;
}
