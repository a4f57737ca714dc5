import type { Kysely, Transaction } from "kysely";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export async function insertAdminToken(
  db: Executor,
  token: { tokenHash: string; name: string; createTime: number; expireTime: number },
): Promise<void> {
  await db
    .insertInto("admin_tokens")
    .values({
      token_hash: token.tokenHash,
      name: token.name,
      create_time: token.createTime,
      expire_time: token.expireTime,
    })
    .execute();
}

/** The name of the operator whose unexpired token hashes to `tokenHash`, or undefined. */
export async function findAdminToken(
  db: Executor,
  tokenHash: string,
  now: number,
): Promise<string | undefined> {
  const row = await db
    .selectFrom("admin_tokens")
    .select("name")
    .where("token_hash", "=", tokenHash)
    .where("expire_time", ">", now)
    .where("revoke_time", "is", null)
    .executeTakeFirst();
  return row?.name;
}

/** An operator token as a listing shows it: never the token or its hash. */
export interface AdminTokenListing {
  readonly name: string;
  readonly createTime: number;
  readonly expireTime: number;
  readonly revokeTime: number | null;
}

/** Every operator token, by name, oldest first. */
export async function listAdminTokens(db: Executor): Promise<AdminTokenListing[]> {
  const rows = await db
    .selectFrom("admin_tokens")
    .select(["name", "create_time", "expire_time", "revoke_time"])
    .orderBy("name")
    .orderBy("create_time")
    .execute();
  return rows.map((row) => ({
    name: row.name,
    createTime: Number(row.create_time),
    expireTime: Number(row.expire_time),
    revokeTime: row.revoke_time === null ? null : Number(row.revoke_time),
  }));
}

/** Revokes every live (unexpired, unrevoked) token of an operator; returns how many. */
export async function revokeAdminTokens(db: Executor, name: string, now: number): Promise<number> {
  const result = await db
    .updateTable("admin_tokens")
    .set({ revoke_time: now })
    .where("name", "=", name)
    .where("revoke_time", "is", null)
    .where("expire_time", ">", now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
