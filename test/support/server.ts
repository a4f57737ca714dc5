import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/http/app.js";
import {
  createAccessKey,
  createProject,
  createToken,
  type IssuedAccessKey,
} from "../../src/services/admin.service.js";
import { seedJobs } from "../../src/services/seed.service.js";
import { type Engine, openTestRuntime, type TestRuntime } from "./databases.js";

/** A real server on a real port with two seeded projects, each with a token and an access key. */
export interface TestServer {
  readonly t: TestRuntime;
  readonly app: FastifyInstance;
  readonly baseUrl: string;
  readonly projects: ReadonlyArray<{ id: string; token: string; key: IssuedAccessKey; jobs: number }>;
  close(): Promise<void>;
}

export async function startTestServer(
  engine: Engine,
  jobsPerProject: readonly number[] = [120, 30],
  env: Record<string, string> = {},
): Promise<TestServer> {
  const t = await openTestRuntime(engine, env);
  // Real wall-clock time: signed requests carry the client's clock.
  t.clock.set(Date.now());
  const projects = [];
  for (const [i, jobs] of jobsPerProject.entries()) {
    const project = await createProject(t.runtime, `project ${i}`);
    await seedJobs(t.runtime, { projectId: project.id, jobs, seed: i + 1 });
    const token = (await createToken(t.runtime, project.id)).token;
    const key = await createAccessKey(t.runtime, project.id);
    projects.push({ id: project.id, token, key, jobs });
  }
  const app = await buildApp({ ...t.runtime, now: () => t.clock.now });
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  return {
    t,
    app,
    baseUrl,
    projects,
    async close() {
      await app.close();
      await t.dispose();
    },
  };
}

/** The MetaStudio jobs URL of a project. */
export function jobsUrl(server: TestServer, projectId: string, query = ""): string {
  return `${server.baseUrl}/v1/${projectId}/digital-human-training-manage/user/jobs${query ? `?${query}` : ""}`;
}

/** A MetaStudio jobs call with a project's token: the status and the parsed body (`{}` when empty). */
export function tokenApi(server: TestServer, project: TestServer["projects"][number]) {
  return async <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => {
    const res = await fetch(jobsUrl(server, project.id) + path, {
      method,
      headers: {
        "X-Auth-Token": project.token,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as T, text };
  };
}
