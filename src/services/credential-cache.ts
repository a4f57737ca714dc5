import { performance } from "node:perf_hooks";
import type { AccessKeyRecord } from "../auth/signed-request.js";
import type { Database } from "../store/database.js";

/**
 * Found credentials, kept for a short while per database. Looking a key up (and decrypting its
 * secret) or a token up on every request cost as much as the list query itself. Only hits are kept,
 * so a new key works at once.
 *
 * Revocation promises that every server process refuses a revoked credential within 5 seconds. The
 * simplest design that keeps that promise is a cache entry that lives less than that: each process
 * looks a credential up again at most every `CACHE_TTL_MS`, so a revocation written to the database
 * reaches every process, on either engine and across separate servers, with no notification channel
 * (PostgreSQL LISTEN has no SQLite counterpart), no polling loop and nothing to keep in sync. The
 * price is one indexed lookup per credential per process every 4 seconds: nothing next to the
 * thousands of requests per second a cached credential serves. 4 s, not 5, leaves room for the lookup
 * that was in flight when the revocation was written.
 */
export const CACHE_TTL_MS = 4_000;
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  readonly value: T;
  readonly until: number;
}

/**
 * Entries expire by a monotonic clock, never the service clock: tests freeze and move the latter, and
 * a credential must not stay cached because someone's clock stood still or went back.
 */
class TtlCache<T> {
  readonly #entries = new Map<string, Entry<T>>();

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > performance.now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: T): void {
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, { value, until: performance.now() + CACHE_TTL_MS });
  }
}

/** A token as the cache keeps it; the expiry is checked on every use, in service time. */
export interface CachedToken {
  readonly projectId: string;
  readonly expireTime: number;
}

export interface CredentialCache {
  readonly accessKeys: TtlCache<AccessKeyRecord>;
  /** Token hash → project and expiry. */
  readonly tokens: TtlCache<CachedToken>;
}

const caches = new WeakMap<Database, CredentialCache>();

/** The cache of one database (tests open many in one process; they must not share). */
export function credentialCacheOf(database: Database): CredentialCache {
  let cache = caches.get(database);
  if (cache === undefined) {
    cache = { accessKeys: new TtlCache(), tokens: new TtlCache() };
    caches.set(database, cache);
  }
  return cache;
}
