/**
 * The API reference: the four OpenAPI 3.1 documents are what the server generates from its route
 * schemas (and what is committed under docs/openapi/), they are valid, they are served without
 * credentials, /docs renders them from this server alone; and every documented operation, walked
 * through its happy and error paths on both databases, answers exactly as documented (each response
 * is checked by test/support/openapi-responses.ts, which every test server runs).
 */
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { validate as validateOpenApi } from "@readme/openapi-parser";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { committedText, OPENAPI_DIR } from "../../scripts/openapi.js";
import { ICE_ACTIONS } from "../../src/http/dialects/ice/routes.js";
import { DOCUMENT_NAMES } from "../../src/http/openapi/documents.js";
import { PREPROCESSED_FILES, preprocessedKey } from "../../src/pipeline/stages/preprocess.stage.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { publishedJob } from "../support/assets.js";
import { ensureClips } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { committedDocuments, coveredResponses } from "../support/openapi-responses.js";
import { jobWaitingForTraining } from "../support/pipeline.js";
import { credentialsOf, iceCall, iceClient, iceError } from "../support/sdk-clients.js";
import { startTestApp, startTestServer, type TestServer, tokenApi } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: documents and bodies are walked field by field
type Body = any;

describe("OpenAPI documents", () => {
  let s: TestServer;
  const served: Record<string, Body> = {};

  beforeAll(async () => {
    s = await startTestApp("sqlite", [1]);
    for (const name of DOCUMENT_NAMES) {
      const res = await s.fetch(`${s.baseUrl}/openapi/${name}.json`);
      expect([name, res.status, res.headers.get("content-type")]).toEqual([
        name,
        200,
        "application/json; charset=utf-8",
      ]);
      served[name] = await res.json();
    }
  });
  afterAll(async () => s?.close());

  it("are committed as the server generates them", async () => {
    for (const name of DOCUMENT_NAMES) {
      const committed = await readFile(`${OPENAPI_DIR}/${name}.json`, "utf8").catch(() => "(missing)");
      expect(
        committed === committedText(served[name]),
        `docs/openapi/${name}.json differs from what the routes generate: run npm run openapi and commit it`,
      ).toBe(true);
    }
  });

  it("are valid OpenAPI 3.1, every schema valid JSON Schema 2020-12", async () => {
    for (const name of DOCUMENT_NAMES) {
      const document = served[name];
      expect(document.openapi).toBe("3.1.0");
      const result = await validateOpenApi(structuredClone(document));
      expect([name, result]).toMatchObject([name, { valid: true }]);
      // Compiling in strict mode refuses unknown keywords and malformed schemas.
      const rebase = (schema: Body) =>
        JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"doc#/$defs/'));
      const ajv = new Ajv2020({ strict: true, validateFormats: false });
      ajv.addSchema({ $id: "doc", $defs: rebase(document.components.schemas ?? {}) });
      for (const schema of schemasOf(document)) {
        expect(
          () => ajv.compile(rebase(schema)),
          `${name}: ${JSON.stringify(schema).slice(0, 200)}`,
        ).not.toThrow();
      }
    }
  });

  it("describe every operation once, named and summarised, every ICE action among them", () => {
    const ids: string[] = [];
    for (const name of DOCUMENT_NAMES) {
      for (const [path, item] of Object.entries<Body>(served[name].paths)) {
        for (const [method, operation] of Object.entries<Body>(item)) {
          expect([name, path, method, typeof operation.operationId, typeof operation.summary]).toEqual([
            name,
            path,
            method,
            "string",
            "string",
          ]);
          ids.push(operation.operationId);
        }
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(served.ice.paths).sort()).toEqual(
      Object.keys(ICE_ACTIONS)
        .map((a) => `/#${a}`)
        .sort(),
    );
    expect(Object.values<Body>(served.ice.paths).map((item) => item.post.summary)).not.toContain(undefined);
  });

  it("are served without credentials, and /docs renders them from this server alone", async () => {
    const page = await s.fetch(`${s.baseUrl}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(references.length).toBeGreaterThanOrEqual(4);
    // The page's config: the four documents, and no validator badge (Swagger UI's call elsewhere).
    const config = JSON.parse(/Object\.assign\((\{.*?\}), \{/s.exec(html)?.[1] ?? "{}");
    expect(config.validatorUrl).toBeNull();
    const urls = config.urls.map((u: { url: string }) => u.url);
    expect(urls).toEqual(DOCUMENT_NAMES.map((name) => `/openapi/${name}.json`));
    for (const reference of [...references, ...urls]) {
      // Same origin only: an absolute path, never a scheme or a protocol-relative `//host`.
      expect(reference).toMatch(/^\/(?!\/)/);
      const res = await s.fetch(`${s.baseUrl}${reference}`);
      expect([reference, res.status]).toEqual([reference, 200]);
      const text = await res.text();
      if (reference.endsWith(".css")) {
        expect(text).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
      }
    }
    const inline = html.replace(/<script src=[^>]*><\/script>/g, "");
    expect(inline).not.toMatch(/https?:\/\//);
  });
});

describe.each(ENGINES)("every documented operation on %s answers as documented", (engine) => {
  let s: TestServer;
  let admin: string;
  let project: TestServer["projects"][number];

  beforeAll(async () => {
    // Webhooks and ICE callbacks to this machine are walked too.
    s = await startTestServer(engine, [120], { DOPPEL_WEBHOOK_ALLOW_NETWORKS: "127.0.0.0/8" });
    admin = (await createAdminToken(s.t.runtime, "Reviewer")).token;
    project = s.projects[0] as TestServer["projects"][number];
    coveredResponses().clear();
  });
  afterAll(async () => s?.close());

  const bearer = async (method: string, path: string, body?: unknown, token: string | null = admin) => {
    const res = await fetch(`${s.baseUrl}${path}`, {
      method,
      headers: {
        ...(token !== null && { Authorization: `Bearer ${token}` }),
        ...(body !== undefined && { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as Body };
  };

  it("MetaStudio", async () => {
    const api = tokenApi(s, project);
    expect((await api("GET", "?limit=5")).status).toBe(200);
    expect((await api("GET", "?limit=0")).status).toBe(400);
    const created = await api<Body>("POST", "", { name: "Reference walk", video_multipart_count: 2 });
    expect(created.status).toBe(200);
    const id = created.body.job_id;
    expect((await api("POST", "", { contact: "no name" })).status).toBe(400);
    expect((await api("GET", `/${id}`)).status).toBe(200);
    expect((await api("GET", `/${"0".repeat(32)}`)).status).toBe(404);
    expect((await api("PUT", `/${id}`, { name: "Not yet" })).status).toBe(409);
    const failed = await api<Body>("GET", "?state=AUTO_VERIFY_FAILED&limit=1");
    const failedId = failed.body.jobs[0]?.job_id;
    expect(failedId).toBeDefined();
    expect((await api("PUT", `/${failedId}`, { contact: "walk@example.com" })).status).toBe(200);
    const parts = await api<Body>("POST", `/${id}/command`, { command: "GET_MULTIPART_UPLOADED" });
    expect(parts.status).toBe(200);
    expect((await api("POST", `/${id}/command`, { command: "NOT_A_COMMAND" })).status).toBe(400);
    const deleted = await api("DELETE", `/${id}`);
    expect([deleted.status, deleted.text]).toEqual([200, ""]);
    expect((await api("DELETE", `/${id}`)).status).toBe(404);
    const anonymous = await fetch(`${s.baseUrl}/v1/${project.id}/digital-human-training-manage/user/jobs`);
    expect(anonymous.status).toBe(401);
  });

  it("MetaStudio assets", async () => {
    const { assetId } = await publishedJob(s.t.runtime, project.id, s.t.clock.now, "Walked asset");
    const assets = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${s.baseUrl}/v1/${project.id}/digital-assets${path}`, {
        method,
        headers: {
          "X-Auth-Token": project.token,
          ...(body !== undefined && { "Content-Type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    expect(await assets("GET", "?limit=5")).toBe(200);
    expect(await assets("GET", "?limit=0")).toBe(400);
    expect(await assets("GET", `/${assetId}`)).toBe(200);
    expect(await assets("GET", `/${"0".repeat(32)}`)).toBe(400);
    expect(await assets("PUT", `/${assetId}`, { asset_name: "Walked again" })).toBe(200);
    expect(await assets("PUT", `/${assetId}`, { asset_state: "GONE" })).toBe(400);
    expect(await assets("POST", `/${assetId}/restore`)).toBe(409);
    expect(await assets("DELETE", `/${assetId}`)).toBe(200);
    expect(await assets("POST", `/${assetId}/restore`)).toBe(200);
    expect(await assets("DELETE", `/${assetId}?mode=force`)).toBe(200);
    expect(await assets("DELETE", `/${assetId}?mode=force`)).toBe(400);
  });

  it("Doppel events and webhooks", async () => {
    const call = async (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const res = await fetch(`${s.baseUrl}/v1/${project.id}/doppel${path}`, {
        method,
        headers: {
          "X-Auth-Token": project.token,
          ...headers,
          ...(body !== undefined && { "Content-Type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as Body };
    };
    const made = await call("POST", "/webhooks", {
      url: "http://127.0.0.1:9/walked",
      events: ["job.created"],
    });
    expect(made.status).toBe(201);
    const id = made.body.webhook_id;
    expect((await call("POST", "/webhooks", { url: "ftp://x" })).status).toBe(400);
    expect((await call("GET", "/webhooks")).status).toBe(200);
    expect((await call("GET", "/webhooks", undefined, { "X-Auth-Token": "bad" })).status).toBe(401);
    expect((await call("GET", `/webhooks/${id}`)).status).toBe(200);
    expect((await call("GET", `/webhooks/${"0".repeat(32)}`)).status).toBe(404);
    expect((await call("PUT", `/webhooks/${id}`, { enabled: false, description: "walked" })).status).toBe(
      200,
    );
    expect((await call("PUT", `/webhooks/${id}`, { events: ["nope"] })).status).toBe(400);
    expect((await call("POST", `/webhooks/${id}/rotate-secret`)).status).toBe(200);
    expect((await call("POST", `/webhooks/${"0".repeat(32)}/rotate-secret`)).status).toBe(404);
    expect((await call("GET", `/webhooks/${id}/deliveries?limit=5`)).status).toBe(200);
    expect((await call("GET", `/webhooks/${id}/deliveries?limit=0`)).status).toBe(400);
    expect((await call("POST", `/webhooks/${id}/redeliver`, {})).status).toBe(200);
    expect((await call("POST", `/webhooks/${id}/redeliver`, { event_ids: "all" })).status).toBe(400);
    expect((await call("GET", "/events?limit=5")).status).toBe(200);
    expect((await call("GET", "/events?after=soon")).status).toBe(400);
    expect((await call("DELETE", `/webhooks/${id}`)).status).toBe(204);
    expect((await call("DELETE", `/webhooks/${id}`)).status).toBe(404);
  });

  it("Doppel job verification", async () => {
    const jobs = (await tokenApi(s, project)<Body>("GET", "?limit=1")).body.jobs;
    const verification = async (jobId: string) => {
      const res = await fetch(`${s.baseUrl}/v1/${project.id}/doppel/jobs/${jobId}/verification`, {
        headers: { "X-Auth-Token": project.token },
      });
      return { status: res.status, body: (await res.json()) as Body };
    };
    // A seeded job was never verified: its report is null (the report itself is walked in verification.test.ts).
    expect(await verification(jobs[0].job_id)).toEqual({ status: 200, body: { verify_report: null } });
    expect((await verification("0".repeat(32))).status).toBe(404);
  });

  it("ICE", async () => {
    const client = iceClient(s, credentialsOf(project.key), "v3");
    const call = <T = Body>(action: string, query: Record<string, unknown> = {}) =>
      iceCall<T>(client, action, query);
    const status = async (promise: Promise<unknown>) => (await iceError(promise)).statusCode;

    expect((await call("ListAvatarTrainingJobs", { PageSize: 5 })).status).toBe(200);
    expect(await status(call("ListAvatarTrainingJobs", { PageSize: 1000 }))).toBe(400);

    const clips = await ensureClips();
    const upload = async (mediaType: string, file: string) => {
      const media = (await call("CreateUploadMedia", { MediaType: mediaType })).body.Data;
      const put = await fetch(media.UploadURL, { method: "PUT", body: await readFile(file) });
      expect(put.status).toBe(200);
      return media.MediaId as string;
    };
    const video = await upload("video", clips.personA);
    const consent = await upload("video", clips.personAConsent);
    expect(await status(call("CreateUploadMedia", {}))).toBe(400);

    const job = (
      await call("CreateAvatarTrainingJob", { AvatarName: "Walk", Video: video, ConsentMedia: consent })
    ).body.Data.JobId;
    expect(await status(call("CreateAvatarTrainingJob", {}))).toBe(400);
    expect((await call("GetAvatarTrainingJob", { JobId: job })).status).toBe(200);
    expect(await status(call("GetAvatarTrainingJob", { JobId: "0".repeat(32) }))).toBe(404);
    expect((await call("UpdateAvatarTrainingJob", { JobId: job, AvatarDescription: "walked" })).status).toBe(
      200,
    );
    expect(await status(call("UpdateAvatarTrainingJob", {}))).toBe(400);
    expect((await call("SubmitAvatarTrainingJob", { JobId: job })).status).toBe(200);
    expect(await status(call("SubmitAvatarTrainingJob", { JobId: job }))).toBe(409);
    expect(await status(call("DeleteAvatarTrainingJob", { JobId: job }))).toBe(409);
    const spare = (await call("CreateAvatarTrainingJob", { AvatarName: "Spare" })).body.Data.JobId;
    expect((await call("DeleteAvatarTrainingJob", { JobId: spare })).status).toBe(200);

    const avatars = await call("ListAvatars", { PageSize: 5 });
    expect(avatars.status).toBe(200);
    expect(await status(call("ListAvatars", { PageNo: 0 }))).toBe(400);
    const avatar = avatars.body.Data.AvatarList[0]?.AvatarId;
    expect(avatar).toBeDefined();
    expect((await call("GetAvatar", { AvatarId: avatar })).status).toBe(200);
    expect(await status(call("GetAvatar", { AvatarId: "0".repeat(32) }))).toBe(404);

    // The event callback (top-level answers). Its list names no event Doppel announces, and no sender
    // runs here: nothing is ever posted to the (public, so always allowed) address.
    const callback = { CallbackURL: "http://1.2.3.4/doppel-walk", EventTypeList: "ProduceMediaComplete" };
    expect((await call("SetEventCallback", callback)).body.Success).toBe(true);
    expect(await status(call("SetEventCallback", { CallbackType: "MNS" }))).toBe(400);
    expect((await call("GetEventCallback")).body.CallbackURL).toBe(callback.CallbackURL);
    expect(await status(iceCall(client, "GetEventCallback", {}, { version: "2019-01-01" }))).toBe(400);

    // Calls that reach no action are answered in the envelope every action documents for errors.
    expect(await status(call("NoSuchAction"))).toBe(404);
    expect(await status(iceCall(client, "ListAvatars", {}, { version: "2019-01-01" }))).toBe(400);
  });

  it("admin", async () => {
    expect((await bearer("GET", "/healthz", undefined, null)).status).toBe(200);
    expect((await bearer("GET", "/readyz", undefined, null)).status).toBe(200);
    const queue = await bearer("GET", "/admin/v1/reviews?limit=100");
    expect(queue.status).toBe(200);
    expect(queue.body.jobs.length).toBeGreaterThanOrEqual(2);
    expect((await bearer("GET", "/admin/v1/reviews", undefined, null)).status).toBe(401);
    expect((await bearer("GET", "/admin/v1/tasks")).status).toBe(200);
    expect((await bearer("GET", "/admin/v1/tasks?offset=-1")).status).toBe(400);
    const [first, second] = queue.body.jobs;
    expect((await bearer("POST", `/admin/v1/reviews/${first.job_id}/approve`)).status).toBe(200);
    expect((await bearer("POST", `/admin/v1/reviews/${first.job_id}/approve`)).status).toBe(409);
    const reason = { reason: "The face is covered" };
    expect((await bearer("POST", `/admin/v1/reviews/${second.job_id}/reject`, reason)).status).toBe(200);
    expect((await bearer("POST", `/admin/v1/reviews/${second.job_id}/reject`, {})).status).toBe(400);
  });

  it("worker protocol", async () => {
    expect((await bearer("POST", "/worker/v1/claim", { worker: "walk" })).body).toEqual({ task: null });
    expect((await bearer("POST", "/worker/v1/claim", {})).status).toBe(400);
    const id = await jobWaitingForTraining(s.t.runtime, project.id, s.t.clock.now);
    for (const file of PREPROCESSED_FILES) {
      await s.t.runtime.blobs.put(preprocessedKey(id, file), Readable.from([Buffer.from(file)]));
    }
    const task = (await bearer("POST", "/worker/v1/claim", { worker: "walk" })).body.task;
    expect(task.job_id).toBe(id);
    const tasks = `/worker/v1/tasks/${task.task_id}`;
    expect((await bearer("POST", `${tasks}/heartbeat`, { worker: "walk", progress: 0.5 })).status).toBe(200);
    expect((await bearer("POST", `${tasks}/heartbeat`, { worker: "other" })).status).toBe(409);

    const input = Object.values<string>(task.inputs)[0] as string;
    const download = await fetch(input);
    expect([download.status, download.headers.get("content-type")]).toEqual([
      200,
      "application/octet-stream",
    ]);
    await download.arrayBuffer();
    expect((await fetch(input.replace(/signature=\w/, "signature=x"))).status).toBe(403);
    const put = (path: string, url = task.output_url) =>
      fetch(url.replace("{path}", path), { method: "PUT", body: "{}" });
    expect((await put("manifest.json")).status).toBe(200);
    expect((await put("x", task.output_url.replace(/signature=\w/, "signature=x"))).status).toBe(403);

    expect((await bearer("POST", `${tasks}/complete`, { worker: "walk" })).status).toBe(200);
    expect((await bearer("POST", `${tasks}/complete`, { worker: "walk" })).status).toBe(409);
    const again = await jobWaitingForTraining(s.t.runtime, project.id, s.t.clock.now);
    const retry = (await bearer("POST", "/worker/v1/claim", { worker: "walk" })).body.task;
    expect(retry.job_id).toBe(again);
    const fail = { worker: "walk", reason: "out of memory" };
    expect((await bearer("POST", `/worker/v1/tasks/${retry.task_id}/fail`, fail)).status).toBe(200);
    expect((await bearer("POST", `/worker/v1/tasks/${retry.task_id}/fail`, fail)).status).toBe(409);
  });

  it("walked every operation of every document through a success and, where documented, an error", () => {
    const documents: Record<string, Body> = committedDocuments();
    const missing: string[] = [];
    for (const name of DOCUMENT_NAMES) {
      for (const item of Object.values<Body>(documents[name].paths)) {
        for (const operation of Object.values<Body>(item)) {
          for (const key of Object.keys(operation.responses)) {
            // 503 needs a database that is down, 5XX a bug: neither can be walked to.
            if (key.startsWith("5")) continue;
            const seen = coveredResponses().has(`${name} ${operation.operationId} ${key}`);
            if (!seen) missing.push(`${name} ${operation.operationId} ${key}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

/** Every schema an operation names: parameters, bodies and responses, and the shared components. */
function schemasOf(document: Body): Body[] {
  const schemas: Body[] = Object.values(document.components?.schemas ?? {});
  const media = (content: Body) => Object.values<Body>(content ?? {}).map((m) => m.schema);
  for (const item of Object.values<Body>(document.paths)) {
    for (const operation of Object.values<Body>(item)) {
      for (const parameter of operation.parameters ?? [])
        if (parameter.schema) schemas.push(parameter.schema);
      schemas.push(...media(operation.requestBody?.content));
      for (const response of Object.values<Body>(operation.responses))
        schemas.push(...media(response.content));
    }
  }
  for (const response of Object.values<Body>(document.components?.responses ?? {})) {
    schemas.push(...media(response.content));
  }
  return schemas.filter((schema) => schema !== undefined);
}
