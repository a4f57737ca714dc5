import { type RawBuilder, type SqlBool, sql } from "kysely";
import type { DatabaseKind } from "./database.js";

/**
 * `column` contains `text`, case-sensitively, on both engines. LIKE would need escaping and is
 * case-insensitive on SQLite but not on PostgreSQL, so each engine uses its own position function.
 */
export function containsText(kind: DatabaseKind, column: string, text: string): RawBuilder<SqlBool> {
  return kind === "sqlite"
    ? sql<SqlBool>`instr(${sql.ref(column)}, ${text}) > 0`
    : sql<SqlBool>`strpos(${sql.ref(column)}, ${text}) > 0`;
}
