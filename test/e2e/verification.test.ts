/**
 * What verification saw, over real HTTP with the real pipeline on real clips, on both databases: the
 * project-scoped `GET /v1/{project_id}/doppel/jobs/{job_id}/verification` (null before the check, then
 * the report with a signed URL per sampled frame and for the consent video's face), the frames'
 * signed downloads (JPEG, ETag the sha256, HEAD, 403 for a changed signature, 404 for a name the
 * report does not list), the same URLs in the admin review queue, and who may read it: not another
 * project, not another end user; bad path parameters get a 4xx in MetaStudio's envelope, never a 5xx.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPipeline, startPipeline } from "../../src/pipeline/run-pipeline.js";
import type { PipelineLogger } from "../../src/pipeline/stage.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { type Clips, ensureClips } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { jpegSize } from "../support/jpeg.js";
import { jobsUrl, startTestServer, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
type Project = TestServer["projects"][number];
const QUIET: PipelineLogger = { info() {}, warn() {}, error() {} };
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.each(ENGINES)("a job's verification on %s", (engine) => {
  let s: TestServer;
  let pipeline: RunningPipeline;
  let clips: Clips;
  let owner: Project;
  let stranger: Project;
  let admin: string;
  let jobId: string;
  let report: Body;

  /** A MetaStudio call with a project's token (and an end user's id, when given). */
  const call = async (project: Project, method: string, url: string, body?: unknown, appUser?: string) => {
    const res = await fetch(url, {
      method,
      headers: {
        "X-Auth-Token": project.token,
        ...(appUser !== undefined && { "X-App-UserId": appUser }),
        ...(body !== undefined && { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const verificationUrl = (projectId: string, id: string) =>
    `${s.baseUrl}/v1/${projectId}/doppel/jobs/${id}/verification`;
  const verification = (project: Project, id: string, appUser?: string, projectId = project.id) =>
    call(project, "GET", verificationUrl(projectId, id), undefined, appUser);

  /** Creates a job of end user `alice` with the training and consent videos uploaded and confirmed. */
  async function newJob(): Promise<string> {
    const jobs = jobsUrl(s, owner.id);
    const made = (await call(owner, "POST", jobs, { name: "Seen", video_multipart_count: 1 }, "alice")).body;
    const put = async (url: string, file: string) =>
      (await fetch(url, { method: "PUT", body: await readFile(file) })).status;
    expect(await put(made.training_video_upload_url[0], clips.personA)).toBe(200);
    expect(await put(made.grant_file_upload_url, clips.personAConsent)).toBe(200);
    const confirm = { command: "CONFIRM_MULTIPART_UPLOADED" };
    expect((await call(owner, "POST", `${jobs}/${made.job_id}/command`, confirm, "alice")).status).toBe(200);
    return made.job_id;
  }

  beforeAll(async () => {
    clips = await ensureClips();
    s = await startTestServer(engine, [0, 0], { DOPPEL_VERIFY_POLICY: "dev", DOPPEL_REVIEW: "manual" });
    [owner, stranger] = s.projects as [Project, Project];
    admin = (await createAdminToken(s.t.runtime, "Vera")).token;
    // The workers run on real time; the API's clock is frozen at start-up.
    pipeline = await startPipeline({ ...s.t.runtime, now: Date.now }, QUIET);
    jobId = await newJob();
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
    await s?.close();
  });

  it("answers null before the job is verified, then the report with a signed URL per frame", async () => {
    expect(await verification(owner, jobId)).toEqual({ status: 200, body: { verify_report: null } });
    const submit = { command: "SUBMITVERIFYING" };
    const submitted = await call(owner, "POST", `${jobsUrl(s, owner.id)}/${jobId}/command`, submit);
    expect(submitted.status).toBe(200);
    const deadline = Date.now() + 90_000;
    let state = "";
    while (state !== "MANUAL_VERIFYING" && !/FAILED$/.test(state) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      state = (await call(owner, "GET", `${jobsUrl(s, owner.id)}/${jobId}`)).body.state;
    }
    expect(state).toBe("MANUAL_VERIFYING");

    const shown = await verification(owner, jobId);
    expect(shown.status).toBe(200);
    report = shown.body.verify_report;
    expect(report.problems).toEqual([]);
    expect(report.files["training-video"].sha256).toBe(sha256(await readFile(clips.personA)));
    expect(report.frames).toHaveLength(8);
    for (const frame of report.frames) {
      expect(Object.keys(frame).sort()).toEqual(
        ["faces", "height", "name", "sha256", "size", "timeSeconds", "url", "width"].sort(),
      );
      expect(frame.url).toMatch(
        new RegExp(`^${s.baseUrl}/downloads/${jobId}/verify/${frame.name}\\?expires=\\d+&signature=`),
      );
      expect(frame.faces).toHaveLength(1);
      expect(Object.keys(frame.faces[0]).sort()).toEqual(["box", "yawDegrees"]);
    }
    expect(report.consent).toMatchObject({ path: "video", trainingFrame: expect.any(Number) });
    expect(report.consent.distance).toBeLessThan(0.55);
    expect(report.consent.frame).toMatchObject({
      name: expect.stringMatching(/^consent-[0-9a-f]{64}\.jpg$/),
      box: { x: expect.any(Number), y: expect.any(Number), width: expect.any(Number) },
      url: expect.stringContaining(`/downloads/${jobId}/verify/consent-`),
    });
    // Valid 24 hours, like every other download URL.
    const expires = Number(new URL(report.frames[0].url).searchParams.get("expires"));
    expect(expires * 1000 - s.t.clock.now).toBeGreaterThan(24 * 3600 * 1000 - 1000);
    expect(expires * 1000 - s.t.clock.now).toBeLessThanOrEqual(24 * 3600 * 1000);
  }, 120_000);

  it("serves each frame by its signed URL: a JPEG of the reported size, its sha256 the ETag", async () => {
    for (const image of [...report.frames, report.consent.frame]) {
      const res = await fetch(image.url);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect([res.status, res.headers.get("content-type")]).toEqual([200, "image/jpeg"]);
      expect(res.headers.get("etag")).toBe(`"${image.sha256}"`);
      expect([bytes.length, sha256(bytes)]).toEqual([image.size, image.sha256]);
      expect(jpegSize(bytes)).toEqual({ width: image.width, height: image.height });
    }
    const head = await fetch(report.frames[0].url, { method: "HEAD" });
    expect([head.status, head.headers.get("content-length")]).toEqual([200, String(report.frames[0].size)]);
    const again = await fetch(report.frames[0].url, {
      headers: { "If-None-Match": `"${report.frames[0].sha256}"` },
    });
    expect(again.status).toBe(304);
  });

  it("refuses a changed signature, and a name the report does not list even when signed", async () => {
    const url = new URL(report.frames[0].url);
    const signature = url.searchParams.get("signature") as string;
    url.searchParams.set("signature", (signature[0] === "0" ? "1" : "0") + signature.slice(1));
    const forged = await fetch(url);
    expect(forged.status).toBe(403);
    expect(Object.keys((await forged.json()) as object).sort()).toEqual(["error_code", "error_msg"]);

    const expires = s.t.clock.now + 3600_000;
    for (const name of [
      `frame-${"0".repeat(64)}.jpg`,
      "report.json",
      "%2E%2E%2Freport.json",
      "x%2F..%2Freport.json",
    ]) {
      const path = `/downloads/${jobId}/verify/${name}`;
      const res = await fetch(`${s.baseUrl}${s.t.runtime.urls.sign("GET", path, expires)}`);
      const body = (await res.json()) as Body;
      expect([name, res.status, body.error_code]).toEqual([name, 404, "MSS.10002001"]);
    }
    const unknownJob = `/downloads/${"0".repeat(32)}/verify/${report.frames[0].name}`;
    const res = await fetch(`${s.baseUrl}${s.t.runtime.urls.sign("GET", unknownJob, expires)}`);
    expect(res.status).toBe(404);
  });

  it("shows the report to its project and end user only", async () => {
    // Another project: its own URL does not find the job, and the owner's URL is not its project.
    expect(await verification(stranger, jobId)).toMatchObject({
      status: 404,
      body: { error_code: "MSS.10002001" },
    });
    expect((await verification(stranger, jobId, undefined, owner.id)).status).toBe(403);
    // The end user who made the job sees it; another end user of the project does not.
    expect((await verification(owner, jobId, "alice")).body.verify_report.frames).toHaveLength(8);
    expect(await verification(owner, jobId, "bob")).toMatchObject({
      status: 404,
      body: { error_code: "MSS.10002001" },
    });
    expect((await verification(owner, "0".repeat(32))).status).toBe(404);
    const anonymous = await fetch(verificationUrl(owner.id, jobId));
    expect(anonymous.status).toBe(401);
  });

  it("gives the review queue the same frames with URLs", async () => {
    const res = await fetch(`${s.baseUrl}/admin/v1/reviews?limit=100`, {
      headers: { Authorization: `Bearer ${admin}` },
    });
    const queued = ((await res.json()) as Body).jobs.find((j: Body) => j.job_id === jobId);
    expect(queued.verify_report.frames.map((f: Body) => f.name)).toEqual(
      report.frames.map((f: Body) => f.name),
    );
    expect(queued.verify_report.consent.frame.name).toBe(report.consent.frame.name);
    const frame = await fetch(queued.verify_report.frames[0].url);
    expect([frame.status, sha256(Buffer.from(await frame.arrayBuffer()))]).toEqual([
      200,
      report.frames[0].sha256,
    ]);
  });

  it("answers any job id in the path with a 4xx in MetaStudio's envelope, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.stringMatching(/^[0-9a-f]{32}$/),
          fc.constantFrom("..", ".", "%", "\u0000", jobId.toUpperCase(), `${jobId}/x`),
        ),
        fc.string({ maxLength: 40 }),
        async (id, name) => {
          const res = await fetch(verificationUrl(owner.id, encodeURIComponent(id)), {
            headers: { "X-Auth-Token": owner.token },
          });
          const body = (await res.json()) as Body;
          expect([id, res.status]).toEqual([id, expect.any(Number)]);
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(Object.keys(body).sort()).toEqual(["error_code", "error_msg"]);
          const path = `/downloads/${encodeURIComponent(id)}/verify/${encodeURIComponent(name)}`;
          const download = await fetch(
            `${s.baseUrl}${s.t.runtime.urls.sign("GET", path, s.t.clock.now + 60_000)}`,
          );
          expect(download.status).toBeGreaterThanOrEqual(400);
          expect(download.status).toBeLessThan(500);
          await download.arrayBuffer();
        },
      ),
      { numRuns: 60 },
    );
  });
});
