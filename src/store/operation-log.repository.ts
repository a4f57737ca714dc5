import { type Kysely, sql, type Transaction } from "kysely";
import type { OperateUser, OperationLog } from "../domain/operation-log.js";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/**
 * Appends an entry to a job's history. Call it in the transaction that changes the job: the job row
 * is then locked (PostgreSQL) or the database is (SQLite), so `max(seq) + 1` cannot race.
 */
export async function appendOperationLog(db: Executor, jobId: string, log: OperationLog): Promise<void> {
  await db
    .insertInto("job_operation_logs")
    .values({
      job_id: jobId,
      seq: sql<number>`(select coalesce(max(seq), 0) + 1 from job_operation_logs where job_id = ${jobId})`,
      operate_time: log.operateTime,
      operate_user: log.operateUser,
      log_type: log.logType,
      log_description: log.logDescription,
      error_code: log.errorCode,
      redo_reasons: JSON.stringify(log.redoReasons),
    })
    .execute();
}

/** A job's history, oldest first. */
export async function listOperationLogs(db: Executor, jobId: string): Promise<OperationLog[]> {
  const rows = await db
    .selectFrom("job_operation_logs")
    .selectAll()
    .where("job_id", "=", jobId)
    .orderBy("seq")
    .execute();
  return rows.map((row) => ({
    operateTime: Number(row.operate_time),
    operateUser: row.operate_user as OperateUser,
    logType: row.log_type,
    logDescription: row.log_description,
    errorCode: row.error_code,
    redoReasons: JSON.parse(row.redo_reasons) as string[],
  }));
}
