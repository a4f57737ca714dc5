import { claimNonces, type NonceClaim } from "../store/credential.repository.js";
import type { Database } from "../store/database.js";

const MAX_BATCH = 500;

/**
 * Group commit for nonce claims. Every signed Alibaba request writes its nonce; one write per
 * request made that write cost as much as the whole list query. Claims made in the same turn of the
 * event loop, or while a write is in flight, go together in one statement, so under load N concurrent
 * requests cost one write. The first write waits only for the current turn to finish (setImmediate):
 * SQLite writes synchronously, so without that wait no second claim could ever join a batch.
 */
type Pending = NonceClaim & { resolve(ok: boolean): void; reject(error: unknown): void };

class NonceBatcher {
  #pending: Pending[] = [];
  #writing = false;

  constructor(
    private readonly database: Database,
    private readonly now: () => number,
  ) {}

  claim(accessKeyId: string, nonce: string, expireTime: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ accessKeyId, nonce, expireTime, resolve, reject });
      if (!this.#writing) {
        this.#writing = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, MAX_BATCH);
        // The same nonce twice in one batch: the first is the claim, the rest are replays.
        const seen = new Set<string>();
        const unique: typeof batch = [];
        const repeats: typeof batch = [];
        for (const claim of batch) {
          const key = `${claim.accessKeyId}\n${claim.nonce}`;
          (seen.has(key) ? repeats : unique).push(claim);
          seen.add(key);
        }
        try {
          const accepted = await claimNonces(this.database.db, unique, this.now());
          unique.forEach((claim, i) => {
            claim.resolve(accepted.has(i));
          });
        } catch {
          await this.#claimOneByOne(unique);
        }
        for (const claim of repeats) claim.resolve(false);
      }
    } finally {
      this.#writing = false;
    }
  }

  /**
   * A failed batch statement stored nothing (one statement is atomic), so each claim is retried alone:
   * a row the database refuses then fails only its own request, never the unrelated requests that
   * happened to share its batch. When the database itself is down every claim fails, as it should.
   */
  async #claimOneByOne(claims: readonly Pending[]): Promise<void> {
    for (const claim of claims) {
      try {
        claim.resolve((await claimNonces(this.database.db, [claim], this.now())).has(0));
      } catch (error) {
        claim.reject(error);
      }
    }
  }
}

const batchers = new WeakMap<Database, NonceBatcher>();

/** Claims a nonce through the database's batcher: false when it is a replay. */
export function claimNonceBatched(
  database: Database,
  now: () => number,
  accessKeyId: string,
  nonce: string,
  expireTime: number,
): Promise<boolean> {
  let batcher = batchers.get(database);
  if (batcher === undefined) {
    batcher = new NonceBatcher(database, now);
    batchers.set(database, batcher);
  }
  return batcher.claim(accessKeyId, nonce, expireTime);
}
