/**
 * No likeness without consent, by default (`--consent required`), over real HTTP with the real built-in
 * pipeline on real clips, on both databases:
 * - a job without a grant file cannot be submitted, in either dialect, and is told how to give consent;
 * - a consent *letter* (PDF) sends a verified job to the review queue even under `--review auto`: the
 *   automatic review leaves it to an operator, whose approval moves it on;
 * - the verify report says which consent path a job took;
 * - with `--consent optional`, a job without consent is verified and trained like before, its report
 *   saying it had none.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPipeline, startPipeline } from "../../src/pipeline/run-pipeline.js";
import type { PipelineLogger } from "../../src/pipeline/stage.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { type Clips, ensureClips } from "../support/clips.js";
import { ENGINES, type Engine } from "../support/databases.js";
import { credentialsOf, iceCall, iceClient, iceError } from "../support/sdk-clients.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
const QUIET: PipelineLogger = { info() {}, warn() {}, error() {} };
/** A minimal PDF: what a signed consent letter sniffs as. */
const PDF = Buffer.from("%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n");

async function startWithPipeline(engine: Engine, env: Record<string, string>) {
  const s = await startTestServer(engine, [0], { DOPPEL_VERIFY_POLICY: "dev", ...env });
  // The workers run on real time; the API's clock is frozen at start-up.
  const pipeline = await startPipeline({ ...s.t.runtime, now: Date.now }, QUIET);
  return { s, pipeline };
}

describe.each(ENGINES)("consent on %s", (engine) => {
  let s: TestServer;
  let pipeline: RunningPipeline;
  let clips: Clips;
  let project: TestServer["projects"][number];
  let admin: string;

  beforeAll(async () => {
    clips = await ensureClips();
    ({ s, pipeline } = await startWithPipeline(engine, { DOPPEL_REVIEW: "auto" }));
    [project] = s.projects as [typeof project];
    admin = (await createAdminToken(s.t.runtime, "Olga")).token;
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
    await s?.close();
  });

  const api = (method: string, path: string, body?: unknown) =>
    tokenApi(s, project)<Body>(method, path, body);

  /** Creates a job with the clip as its video, and the consent file when there is one; confirms it. */
  async function jobWith(clip: string, consent?: Buffer): Promise<string> {
    const created = (await api("POST", "", { name: "Consent", video_multipart_count: 1 })).body;
    const put = async (url: string, body: Buffer) => (await fetch(url, { method: "PUT", body })).status;
    expect(await put(created.training_video_upload_url[0], await readFile(clip))).toBe(200);
    if (consent) expect(await put(created.grant_file_upload_url, consent)).toBe(200);
    expect(
      (await api("POST", `/${created.job_id}/command`, { command: "CONFIRM_MULTIPART_UPLOADED" })).status,
    ).toBe(200);
    return created.job_id;
  }

  async function until(jobId: string, done: (job: Body) => boolean): Promise<Body> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const job = (await api("GET", `/${jobId}`)).body;
      if (done(job) || Date.now() > deadline) return job;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it("refuses to submit a job without consent, in both dialects, saying how to give it", async () => {
    const jobId = await jobWith(clips.personA);
    const refused = await api("POST", `/${jobId}/command`, { command: "SUBMITVERIFYING" });
    expect(refused.status).toBe(400);
    expect(refused.body.error_code).toBe("MSS.10001004");
    expect(refused.body.error_msg).toMatch(/has no consent.*grant_file_upload_url/);
    const ice = await iceError(
      iceCall(iceClient(s, credentialsOf(project.key), "v3"), "SubmitAvatarTrainingJob", { JobId: jobId }),
    );
    expect([ice.code, ice.statusCode]).toEqual(["InvalidParameter.File", 400]);
    expect(String(ice.data?.Message)).toMatch(/has no consent.*ConsentMedia/);
    expect((await api("GET", `/${jobId}`)).body.state).toBe("WAIT_FILE_UPLOAD");
  });

  it("sends a job whose consent is a letter to an operator even under automatic review", async () => {
    const jobId = await jobWith(clips.personA, PDF);
    expect((await api("POST", `/${jobId}/command`, { command: "SUBMITVERIFYING" })).status).toBe(200);
    const waiting = await until(jobId, (job) =>
      job.operation_logs.some((l: Body) => l.log_type === "MANUAL_VERIFY" || /FAILED$/.test(job.state)),
    );
    expect(waiting.state).toBe("MANUAL_VERIFYING");
    const verify = waiting.operation_logs.find((l: Body) => l.log_type === "AUTO_VERIFY");
    expect(verify.log_description).toMatch(/Checks passed.*consent letter left to an operator/);
    const held = waiting.operation_logs.at(-1);
    expect(held).toMatchObject({ log_type: "MANUAL_VERIFY", operate_user: "SYSTEM" });
    expect(held.log_description).toMatch(
      /Waiting for an operator: the consent is a letter \(application\/pdf\)/,
    );
    // It stays there: nothing but an operator moves it on.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api("GET", `/${jobId}`)).body.state).toBe("MANUAL_VERIFYING");

    const review = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${s.baseUrl}/admin/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await res.json()) as Body;
    };
    const queued = (await review("GET", "/reviews?limit=100")).jobs.find((j: Body) => j.job_id === jobId);
    expect(queued.verify_report.consent).toEqual({ path: "letter", contentType: "application/pdf" });
    await review("POST", `/reviews/${jobId}/approve`, { comment: "letter signed" });
    const approved = await until(jobId, (job) => job.state !== "MANUAL_VERIFYING");
    expect([
      "MANUAL_VERIFY_SUCCESS",
      "WAIT_TRAINING_DATA_PREPROCESS",
      "TRAINING_DATA_PREPROCESSING",
    ]).toContain(approved.state);
  }, 120_000);
});

describe("consent optional", () => {
  let s: TestServer;
  let pipeline: RunningPipeline;

  beforeAll(async () => {
    ({ s, pipeline } = await startWithPipeline("sqlite", { DOPPEL_CONSENT: "optional" }));
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
    await s?.close();
  });

  it("verifies a job without consent, its report saying it had none", async () => {
    const clips = await ensureClips();
    const project = s.projects[0] as TestServer["projects"][number];
    const api = (method: string, path: string, body?: unknown) =>
      tokenApi(s, project)<Body>(method, path, body);
    const created = (await api("POST", "", { name: "No consent", video_multipart_count: 1 })).body;
    await fetch(created.training_video_upload_url[0], { method: "PUT", body: await readFile(clips.personA) });
    await api("POST", `/${created.job_id}/command`, { command: "CONFIRM_MULTIPART_UPLOADED" });
    expect((await api("POST", `/${created.job_id}/command`, { command: "SUBMITVERIFYING" })).status).toBe(
      200,
    );
    const deadline = Date.now() + 90_000;
    let job: Body;
    do {
      await new Promise((r) => setTimeout(r, 250));
      job = (await api("GET", `/${created.job_id}`)).body;
    } while (!job.operation_logs.some((l: Body) => l.log_type === "AUTO_VERIFY") && Date.now() < deadline);
    const verify = job.operation_logs.find((l: Body) => l.log_type === "AUTO_VERIFY");
    expect(verify.log_description).toMatch(/Checks passed.*no consent file \(consent optional\)/);
    const chunks: Buffer[] = [];
    for await (const chunk of await s.t.runtime.blobs.get(`jobs/${created.job_id}/verify/report.json`))
      chunks.push(chunk as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString("utf8")).consent).toEqual({ path: "none" });
  }, 120_000);
});
