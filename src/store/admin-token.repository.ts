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
    .executeTakeFirst();
  return row?.name;
}
