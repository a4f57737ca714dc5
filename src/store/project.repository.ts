import type { Kysely, Transaction } from "kysely";
import type { DatabaseSchema } from "./schema.js";

type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface ProjectRecord {
  readonly id: string;
  readonly name: string;
  readonly createTime: number;
}

export async function insertProject(db: Executor, project: ProjectRecord): Promise<void> {
  await db
    .insertInto("projects")
    .values({ id: project.id, name: project.name, create_time: project.createTime })
    .execute();
}

export async function findProject(db: Executor, id: string): Promise<ProjectRecord | undefined> {
  const row = await db.selectFrom("projects").selectAll().where("id", "=", id).executeTakeFirst();
  return row && { id: row.id, name: row.name, createTime: Number(row.create_time) };
}

export async function listProjects(db: Executor): Promise<ProjectRecord[]> {
  const rows = await db.selectFrom("projects").selectAll().orderBy("create_time").orderBy("id").execute();
  return rows.map((row) => ({ id: row.id, name: row.name, createTime: Number(row.create_time) }));
}
