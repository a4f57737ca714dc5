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
import { INJECT_ORIGIN, injectFetch } from "./inject-fetch.js";
import { checkResponsesAgainstOpenApi } from "./openapi-responses.js";

/**
 * The app over seeded projects, each with a token and an access key: on a real port
 * (`startTestServer`) or reached through `app.inject()` (`startTestApp`).
 */
export interface TestServer {
  readonly t: TestRuntime;
  readonly app: FastifyInstance;
  /** Where requests go: the real port's URL, or `INJECT_ORIGIN` for `startTestApp`. */
  readonly baseUrl: string;
  readonly projects: ReadonlyArray<{ id: string; token: string; key: IssuedAccessKey; jobs: number }>;
  /** `fetch` for this server's URLs: over the socket, or through `app.inject()` for `startTestApp`. */
  readonly fetch: (input: string | URL, init?: RequestInit) => Promise<Response>;
  /** A real port's base URL, for a test whose socket matters: `startTestApp` opens it on first call. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The seeded app without a socket: `fetch` (and `tokenApi`) go through `app.inject()`, which skips the
 * TCP connection and the HTTP client. For tests of ordinary requests and answers.
 */
export async function startTestApp(
  engine: Engine,
  jobsPerProject: readonly number[] = [120, 30],
  env: Record<string, string> = {},
): Promise<TestServer> {
  const seeded = await seededApp(engine, jobsPerProject, env);
  await seeded.app.ready();
  let listening: Promise<string> | undefined;
  return {
    ...seeded,
    baseUrl: INJECT_ORIGIN,
    fetch: injectFetch(seeded.app, INJECT_ORIGIN),
    listen: () => {
      listening ??= seeded.app.listen({ host: "127.0.0.1", port: 0 });
      return listening;
    },
  };
}

/** The same app on a real port: for SDKs, uploads, raw HTTP and anything else where the socket matters. */
export async function startTestServer(...args: Parameters<typeof startTestApp>): Promise<TestServer> {
  const app = await startTestApp(...args);
  const baseUrl = await app.listen();
  return { ...app, baseUrl, fetch: (input, init) => fetch(input, init) };
}

/** The runtime, the seeded projects and the app over them, not yet listening. */
async function seededApp(
  engine: Engine,
  jobsPerProject: readonly number[],
  env: Record<string, string>,
): Promise<Pick<TestServer, "t" | "app" | "projects" | "close">> {
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
  checkResponsesAgainstOpenApi(app);
  return {
    t,
    app,
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
    const res = await server.fetch(jobsUrl(server, project.id) + path, {
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
