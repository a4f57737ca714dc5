import type { AccessKeyRecord } from "../auth/signed-request.js";
import type { Database } from "../store/database.js";

/**
 * Found credentials, kept for a short while per database. Looking a key up (and decrypting its
 * secret) or a token up on every request cost as much as the list query itself. Only hits are kept,
 * so a new key works at once; a disabled key or token keeps working for at most `CACHE_TTL_MS`.
 */
export const CACHE_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  readonly value: T;
  readonly until: number;
}

class TtlCache<T> {
  readonly #entries = new Map<string, Entry<T>>();

  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > now) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: T, until: number): void {
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, { value, until });
  }
}

export interface CredentialCache {
  readonly accessKeys: TtlCache<AccessKeyRecord>;
  /** Token hash → project id; entries never outlive the token. */
  readonly tokens: TtlCache<string>;
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
