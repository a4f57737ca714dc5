import { performance } from "node:perf_hooks";
import { noteAccessKeyUse } from "../store/credential.repository.js";
import type { Database } from "../store/database.js";
import type { ServiceContext } from "./context.js";

/**
 * Listings show when a key was last used, to the minute: enough to tell a key in use from a forgotten
 * one before revoking it. Writing it on every request would put a write on every signed call.
 */
const WRITE_EVERY_MS = 60_000;
const MAX_KEYS = 10_000;
const lastWrites = new WeakMap<Database, Map<string, number>>();

/** Records that an access key authenticated a request: at most once a minute per key and process. */
export function noteKeyUse(ctx: ServiceContext, accessKeyId: string): void {
  let written = lastWrites.get(ctx.database);
  if (written === undefined) {
    written = new Map();
    lastWrites.set(ctx.database, written);
  }
  const at = performance.now();
  const previous = written.get(accessKeyId);
  if (previous !== undefined && at - previous < WRITE_EVERY_MS) return;
  if (written.size >= MAX_KEYS) written.clear();
  written.set(accessKeyId, at);
  const record = written;
  // Not awaited: a request must neither wait for nor fail with this bookkeeping write. A failed write
  // is forgotten, so the key's next use tries again.
  noteAccessKeyUse(ctx.database.db, accessKeyId, ctx.now()).catch(() => record.delete(accessKeyId));
}
