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

/** An unexpired token's project and expiry, or undefined. */
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
    .executeTakeFirst();
  return row && { projectId: row.project_id, expireTime: Number(row.expire_time) };
}

/**
 * Records a signature nonce. Returns false when the same key already used it and it has not expired,
 * i.e. the request is a replay. Relies on the primary key, so it is race-free across processes.
 */
export async function claimNonce(
  db: Executor,
  accessKeyId: string,
  nonce: string,
  expireTime: number,
  now: number,
): Promise<boolean> {
  // One statement: insert, or take over a row whose replay window is over (it may linger until the
  // sweep). Zero rows changed means the nonce is live: a replay. The primary key makes it race-free.
  // Written as one SQL template because it runs on every signed Alibaba request, and Kysely's builder
  // cost more than SQLite's write itself; the statement is the same on both engines.
  const result = await sql`
    insert into nonces (access_key_id, nonce, expire_time) values (${accessKeyId}, ${nonce}, ${expireTime})
    on conflict (access_key_id, nonce) do update set expire_time = excluded.expire_time
    where nonces.expire_time <= ${now}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** Deletes nonces whose replay window is over. */
export async function sweepNonces(db: Executor, now: number): Promise<number> {
  const result = await db.deleteFrom("nonces").where("expire_time", "<=", now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
