import { type Kysely, sql, type Transaction } from "kysely";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface StoredAccessKey {
  readonly id: string;
  readonly projectId: string;
  readonly secretCiphertext: string;
}

export async function insertAccessKey(
  db: Executor,
  key: StoredAccessKey & { readonly createTime: number },
): Promise<void> {
  await db
    .insertInto("access_keys")
    .values({
      id: key.id,
      project_id: key.projectId,
      secret_ciphertext: key.secretCiphertext,
      create_time: key.createTime,
    })
    .execute();
}

/** An enabled access key, or undefined. */
export async function findEnabledAccessKey(db: Executor, id: string): Promise<StoredAccessKey | undefined> {
  const row = await db
    .selectFrom("access_keys")
    .select(["id", "project_id", "secret_ciphertext"])
    .where("id", "=", id)
    .where("disabled", "=", 0)
    .executeTakeFirst();
  return row && { id: row.id, projectId: row.project_id, secretCiphertext: row.secret_ciphertext };
}

/** An access key as a listing shows it: never its secret. */
export interface AccessKeyListing {
  readonly id: string;
  readonly projectId: string;
  readonly createTime: number;
  readonly revokeTime: number | null;
  readonly lastUsedTime: number | null;
}

/** A project's access keys, oldest first. */
export async function listAccessKeys(db: Executor, projectId: string): Promise<AccessKeyListing[]> {
  const rows = await db
    .selectFrom("access_keys")
    .select(["id", "project_id", "create_time", "revoke_time", "last_used_time"])
    .where("project_id", "=", projectId)
    .orderBy("create_time")
    .orderBy("id")
    .execute();
  return rows.map((row) => ({
    id: row.id,
    projectId: row.project_id,
    createTime: Number(row.create_time),
    revokeTime: row.revoke_time === null ? null : Number(row.revoke_time),
    lastUsedTime: row.last_used_time === null ? null : Number(row.last_used_time),
  }));
}

/**
 * Revokes an access key (it stays listed, disabled for good). Returns its project and when it was
 * revoked (earlier, when it already was), or undefined when there is no such key.
 */
export async function revokeAccessKey(
  db: Executor,
  id: string,
  now: number,
): Promise<{ projectId: string; revokeTime: number } | undefined> {
  await db
    .updateTable("access_keys")
    .set({ disabled: 1, revoke_time: now })
    .where("id", "=", id)
    .where("revoke_time", "is", null)
    .execute();
  const row = await db
    .selectFrom("access_keys")
    .select(["project_id", "revoke_time"])
    .where("id", "=", id)
    .executeTakeFirst();
  return row && { projectId: row.project_id, revokeTime: Number(row.revoke_time ?? now) };
}

/** Records that a key was used at `now` (callers throttle this; see services/key-usage.ts). */
export async function noteAccessKeyUse(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable("access_keys").set({ last_used_time: now }).where("id", "=", id).execute();
}

export async function insertToken(
  db: Executor,
  token: { tokenHash: string; projectId: string; createTime: number; expireTime: number },
): Promise<void> {
  await db
    .insertInto("tokens")
    .values({
      token_hash: token.tokenHash,
      project_id: token.projectId,
      create_time: token.createTime,
      expire_time: token.expireTime,
    })
    .execute();
}

/** An unexpired, unrevoked token's project and expiry, or undefined. */
export async function findToken(
  db: Executor,
  tokenHash: string,
  now: number,
): Promise<{ projectId: string; expireTime: number } | undefined> {
  const row = await db
    .selectFrom("tokens")
    .select(["project_id", "expire_time"])
    .where("token_hash", "=", tokenHash)
    .where("expire_time", ">", now)
    .where("revoke_time", "is", null)
    .executeTakeFirst();
  return row && { projectId: row.project_id, expireTime: Number(row.expire_time) };
}

/** Revokes a token by its hash; returns its project, or undefined when no such token exists. */
export async function revokeToken(
  db: Executor,
  tokenHash: string,
  now: number,
): Promise<{ projectId: string } | undefined> {
  await db
    .updateTable("tokens")
    .set({ revoke_time: now })
    .where("token_hash", "=", tokenHash)
    .where("revoke_time", "is", null)
    .execute();
  const row = await db
    .selectFrom("tokens")
    .select("project_id")
    .where("token_hash", "=", tokenHash)
    .executeTakeFirst();
  return row && { projectId: row.project_id };
}

/** One nonce use to record. */
export interface NonceClaim {
  readonly accessKeyId: string;
  readonly nonce: string;
  readonly expireTime: number;
}

/**
 * Records signature nonces in one statement and returns the index of every claim that was accepted.
 * A claim is refused when the same key already used the nonce and it has not expired: a replay. An
 * expired row may linger until the sweep; a fresh use takes it over. The primary key makes this
 * race-free across processes. The claims must be distinct (the caller dedupes a batch).
 */
export async function claimNonces(
  db: Executor,
  claims: readonly NonceClaim[],
  now: number,
): Promise<Set<number>> {
  if (claims.length === 0) return new Set();
  // Written as an SQL template because it runs for every signed Alibaba request and Kysely's builder
  // cost more than the write itself; the statement is the same on both engines.
  const rows = sql.join(claims.map((c) => sql`(${c.accessKeyId}, ${c.nonce}, ${c.expireTime})`));
  const result = await sql<{ access_key_id: string; nonce: string }>`
    insert into nonces (access_key_id, nonce, expire_time) values ${rows}
    on conflict (access_key_id, nonce) do update set expire_time = excluded.expire_time
    where nonces.expire_time <= ${now}
    returning access_key_id, nonce`.execute(db);
  const accepted = new Set(result.rows.map((r) => `${r.access_key_id}\n${r.nonce}`));
  const indexes = new Set<number>();
  claims.forEach((c, i) => {
    if (accepted.has(`${c.accessKeyId}\n${c.nonce}`)) indexes.add(i);
  });
  return indexes;
}

/** Deletes nonces whose replay window is over. */
export async function sweepNonces(db: Executor, now: number): Promise<number> {
  const result = await db.deleteFrom("nonces").where("expire_time", "<=", now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
