/** Who caused an operation, as MetaStudio's `operate_user` names it. */
export type OperateUser = "USER" | "ADMIN" | "SYSTEM";

/** One entry of a job's history (MetaStudio `operation_logs`). */
export interface OperationLog {
  readonly operateTime: number;
  readonly operateUser: OperateUser;
  /** What happened, e.g. `CREATE_JOB`, `DELETE_JOB`, or the state entered. */
  readonly logType: string;
  readonly logDescription: string;
  readonly errorCode: string | null;
  /** Reasons a person can act on (why a check failed, what to redo). */
  readonly redoReasons: readonly string[];
}
