import type { Kysely, Transaction } from "kysely";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface ProjectRecord {
  readonly id: string;
  readonly name: string;
  readonly createTime: number;
}

/** Inserts a project with its event counter (see event.repository.ts), so its first event finds it. */
export async function insertProject(db: Executor, project: ProjectRecord): Promise<void> {
  await db
    .insertInto("projects")
    .values({ id: project.id, name: project.name, create_time: project.createTime })
    .execute();
  await db.insertInto("event_sequences").values({ project_id: project.id, last_seq: 0 }).execute();
}

export async function findProject(db: Executor, id: string): Promise<ProjectRecord | undefined> {
  const row = await db.selectFrom("projects").selectAll().where("id", "=", id).executeTakeFirst();
  return row && { id: row.id, name: row.name, createTime: Number(row.create_time) };
}

export async function listProjects(db: Executor): Promise<ProjectRecord[]> {
  const rows = await db.selectFrom("projects").selectAll().orderBy("create_time").orderBy("id").execute();
  return rows.map((row) => ({ id: row.id, name: row.name, createTime: Number(row.create_time) }));
}
