import { type Kysely, type RawBuilder, sql, type Transaction } from "kysely";
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

/**
 * PostgreSQL: the INSERT of a job's next history entries, numbered after its last, as one statement
 * to run alongside the move's events (event.repository.ts `appendEvents`) in one round trip. The
 * job's row is locked by the move's update, so `max(seq)` cannot race.
 */
export function historyInsertPostgres(jobId: string, logs: readonly OperationLog[]): RawBuilder<unknown> {
  const values = sql.join(
    logs.map(
      (log, i) =>
        sql`(${i + 1}::integer, ${log.operateTime}::bigint, ${log.operateUser}::text, ${log.logType}::text, ${log.logDescription}::text, ${log.errorCode}::text, ${JSON.stringify(log.redoReasons)}::text)`,
    ),
  );
  return sql`insert into job_operation_logs
      (job_id, seq, operate_time, operate_user, log_type, log_description, error_code, redo_reasons)
    select ${jobId}, last.seq + v.i, v.operate_time, v.operate_user, v.log_type, v.log_description, v.error_code, v.redo_reasons
    from (select coalesce(max(seq), 0) as seq from job_operation_logs where job_id = ${jobId}) as last,
      (values ${values}) as v (i, operate_time, operate_user, log_type, log_description, error_code, redo_reasons)`;
}
