import type { Kysely, Transaction } from "kysely";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/**
 * Reserves a client token for the job it creates, for good: the row outlives the job (see
 * migrations/0007-credential-revocation.ts). Insert it in the job's own transaction; the primary key
 * lets only one of two racing creates have the token.
 */
export async function insertClientToken(
  db: Executor,
  token: { projectId: string; clientToken: string; jobId: string; createTime: number },
): Promise<void> {
  await db
    .insertInto("client_tokens")
    .values({
      project_id: token.projectId,
      client_token: token.clientToken,
      job_id: token.jobId,
      create_time: token.createTime,
    })
    .execute();
}

/** The id of the job a client token created in a project (live or deleted), or undefined. */
export async function findClientTokenJob(
  db: Executor,
  projectId: string,
  clientToken: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom("client_tokens")
    .select("job_id")
    .where("project_id", "=", projectId)
    .where("client_token", "=", clientToken)
    .executeTakeFirst();
  return row?.job_id;
}
