/**
 * The whole pipeline on real generated clips, with the built-in workers, through both official SDK
 * clients over real HTTP: a good clip reaches JOB_SUCCESS with a cover and a published asset, and each
 * bad clip fails verification with reasons a person can act on.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPackage } from "../../src/pipeline/avatar-package.js";
import { type RunningPipeline, startPipeline } from "../../src/pipeline/run-pipeline.js";
import type { PipelineLogger } from "../../src/pipeline/stage.js";
import { assetIdOf } from "../../src/pipeline/stages/package.stage.js";
import { doppel } from "../support/cli.js";
import { type Clips, ensureClips } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { PIPELINE_SUCCESS_LOG_TYPES } from "../support/pipeline.js";
import {
  credentialsOf,
  type HcClient,
  huaweiCall,
  huaweiClient,
  type IceClient,
  iceCall,
  iceClient,
  METASTUDIO_JOBS,
} from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const QUIET: PipelineLogger = { info() {}, warn() {}, error() {} };

describe.each(ENGINES)("the pipeline on real clips on %s", (engine) => {
  let s: TestServer;
  let pipeline: RunningPipeline;
  let clips: Clips;
  let huawei: HcClient;
  let ice: IceClient;

  beforeAll(async () => {
    clips = await ensureClips();
    // The bad clips go without consent to fail for their own reasons (consent.test.ts tests consent).
    s = await startTestServer(engine, [0], {
      DOPPEL_VERIFY_POLICY: "dev",
      DOPPEL_WORKER_CONCURRENCY: "2",
      DOPPEL_CONSENT: "optional",
    });
    // The workers run on real time (backoff, leases); the API's clock is frozen at start-up.
    pipeline = await startPipeline({ ...s.t.runtime, now: Date.now }, QUIET);
    const key = credentialsOf((s.projects[0] as TestServer["projects"][number]).key);
    huawei = huaweiClient(s, key);
    ice = iceClient(s, key, "v3");
  }, 120_000);
  // Stopping waits for what is in flight (a stage noticing its abort, a response being written); on a
  // machine loaded by the other test files that has taken over the default minute.
  afterAll(async () => {
    await pipeline?.stop();
    await s?.close();
  }, 120_000);

  const ms = (method: "GET" | "POST", path: string, body?: unknown) =>
    huaweiCall<Body>(
      huawei,
      method,
      `${METASTUDIO_JOBS}${path}`,
      path.includes("{job_id}") ? { job_id: currentJob } : {},
      body,
    );
  let currentJob = "";

  /** Creates a MetaStudio job, uploads the clip (and a consent video), confirms and submits it. */
  async function submitClip(clip: string, consent?: string): Promise<string> {
    const created = (await ms("POST", "", { name: "E2E", video_multipart_count: 1 })).body;
    const put = (url: string, file: string) =>
      readFile(file).then((body) => fetch(url, { method: "PUT", body }));
    expect((await put(created.training_video_upload_url[0], clip)).status).toBe(200);
    if (consent) expect((await put(created.grant_file_upload_url, consent)).status).toBe(200);
    currentJob = created.job_id;
    expect((await ms("POST", "/{job_id}/command", { command: "CONFIRM_MULTIPART_UPLOADED" })).status).toBe(
      200,
    );
    expect((await ms("POST", "/{job_id}/command", { command: "SUBMITVERIFYING" })).status).toBe(200);
    return created.job_id;
  }

  async function settle(jobId: string, done: (state: string) => boolean): Promise<Body> {
    const deadline = Date.now() + 150_000;
    for (;;) {
      currentJob = jobId;
      const job = (await ms("GET", "/{job_id}")).body;
      if (done(job.state) || Date.now() > deadline) return job;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const final = (state: string) => /FAILED$|^JOB_SUCCESS$|^WAIT_USER_CONFIRM$/.test(state);

  it("takes a good clip with the person's own consent video to JOB_SUCCESS with a cover and an asset", async () => {
    const jobId = await submitClip(clips.personA, clips.personAConsent);
    const job = await settle(jobId, final);
    expect(job.state).toBe("JOB_SUCCESS");
    expect(job.asset_id).toBe(assetIdOf(jobId));
    const types = job.operation_logs.map((l: Body) => l.log_type);
    expect(types).toEqual([
      "CREATE_JOB",
      "UPLOAD_FILE",
      "CONFIRM_MULTIPART_UPLOADED",
      ...PIPELINE_SUCCESS_LOG_TYPES,
    ]);
    const verify = job.operation_logs.find((l: Body) => l.log_type === "AUTO_VERIFY");
    expect(verify.log_description).toMatch(/Checks passed \(policy dev\).*consent video matches/);
    const cover = await fetch(job.cover_download_url);
    expect(cover.status).toBe(200);
    const coverBytes = Buffer.from(await cover.arrayBuffer());
    expect(coverBytes.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    // Preprocessing left the trainer's inputs, the square face video among them, their manifest, and
    // the job's cover under a key named by its content.
    const preprocessed = await s.t.runtime.blobs.list(`jobs/${jobId}/preprocess/`);
    expect(preprocessed.map((b) => b.key.split("/").at(-1)).sort()).toEqual([
      "audio.wav",
      `cover-${sha256(coverBytes)}.jpg`,
      "cover.jpg",
      "face.mp4",
      "faces.json",
      "manifest.json",
      "video.mp4",
    ]);
    // The chain of custody: what was uploaded is what was verified, preprocessed and downloaded.
    const uploaded = sha256(await readFile(clips.personA));
    const readBlob = async (key: string) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await s.t.runtime.blobs.get(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    const readJsonBlob = async (key: string) => JSON.parse((await readBlob(key)).toString("utf8"));
    const report = await readJsonBlob(`jobs/${jobId}/verify/report.json`);
    expect(report.files["training-video"].sha256).toBe(uploaded);
    expect(report.files["grant-file"].sha256).toBe(sha256(await readFile(clips.personAConsent)));
    expect(report.consent).toEqual({
      path: "video",
      distance: expect.any(Number),
      // The consent video's face and the training video's, to show side by side (verify-stage.test.ts).
      frame: expect.objectContaining({ name: expect.stringMatching(/^consent-[0-9a-f]{64}\.jpg$/) }),
      trainingFrame: expect.any(Number),
    });
    expect(report.consent.distance).toBeLessThan(0.55);
    const manifest = await readJsonBlob(`jobs/${jobId}/preprocess/manifest.json`);
    expect(manifest.source.sha256).toBe(uploaded);
    for (const blob of preprocessed.filter(
      (b) => /\/[a-z]+\.[a-z0-9]+$/.test(b.key) && !b.key.endsWith("manifest.json"),
    )) {
      const name = blob.key.split("/").at(-1) as string;
      expect(manifest.files[name].sha256, name).toBe(sha256(await readBlob(blob.key)));
    }
    const preprocessLog = job.operation_logs.find((l: Body) => l.log_type === "TRAINING_DATA_PREPROCESS");
    expect(preprocessLog.log_description).toContain(`sha256 ${uploaded}`);
    const video = await fetch(job.training_video_download_url);
    expect(sha256(Buffer.from(await video.arrayBuffer()))).toBe(uploaded);
    // The list shows the cover too.
    const listed = (await ms("GET", "")).body.jobs.find((j: Body) => j.job_id === jobId);
    expect((await fetch(listed.cover_download_url)).status).toBe(200);

    // The published asset: a package that matches its manifest, and a preview.
    const prefix = `assets/${job.asset_id}/`;
    const blobs = await s.t.runtime.blobs.list(prefix);
    expect(blobs.map((b) => b.key)).toEqual(
      expect.arrayContaining([
        `${prefix}preview.mp4`,
        `${prefix}package/manifest.json`,
        `${prefix}package/idle.mp4`,
      ]),
    );
    const { mkdtemp } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { downloadPrefix } = await import("../../src/pipeline/stages/stage-files.js");
    const dir = await mkdtemp(join(tmpdir(), "doppel-asset-"));
    await downloadPrefix(s.t.runtime.blobs, `${prefix}package/`, dir);
    expect(await verifyPackage(dir)).toEqual({ ok: true, problems: [] });

    // The asset in both dialects: listed, shown with every file (each served as its manifest says),
    // linked to its job; ICE shows the avatar at the training video's frame size.
    const assets = "/v1/{project_id}/digital-assets";
    const listedAssets = (
      await huaweiCall<Body>(huawei, "GET", assets, {}, undefined, {}, { name: job.name })
    ).body;
    expect(listedAssets.assets.map((a: Body) => a.asset_id)).toContain(job.asset_id);
    const asset = (await huaweiCall<Body>(huawei, "GET", `${assets}/{asset_id}`, { asset_id: job.asset_id }))
      .body;
    expect(asset).toMatchObject({
      asset_id: job.asset_id,
      job_id: jobId,
      asset_state: "ACTIVED",
      asset_name: job.name,
    });
    const packageManifest = JSON.parse(
      (await readBlob(`${prefix}package/manifest.json`)).toString("utf8"),
    ) as { files: Array<{ path: string; sha256: string }>; source: { width: number; height: number } };
    const others = asset.files.filter((f: Body) => f.asset_file_category !== "MAIN");
    expect(others.length).toBe(packageManifest.files.length + 2);
    for (const file of packageManifest.files.slice(0, 5)) {
      const listedFile = asset.files.find((f: Body) => f.download_url.includes(`/package/${file.path}?`));
      expect(listedFile?.file_sha256, file.path).toBe(file.sha256);
      const bytes = Buffer.from(await (await fetch(listedFile.download_url)).arrayBuffer());
      expect(sha256(bytes), file.path).toBe(file.sha256);
    }
    const avatar = (await iceCall<Body>(ice, "GetAvatar", { AvatarId: job.asset_id })).body.Data.Avatar;
    expect(avatar).toMatchObject({
      AvatarName: job.name,
      Width: packageManifest.source.width,
      Height: packageManifest.source.height,
    });

    // `doppel assets download` fetches the trained package, every file checked against its manifest,
    // into a directory that passes the pipeline's own package check.
    const [project] = s.projects as [TestServer["projects"][number]];
    const out = await mkdtemp(join(tmpdir(), "doppel-cli-asset-"));
    await doppel(["assets", "download", "--asset", job.asset_id, "--out", out], {
      DOPPEL_ENDPOINT: s.baseUrl,
      DOPPEL_PROJECT_ID: project.id,
      DOPPEL_TOKEN: project.token,
      DOPPEL_ACCESS_KEY_ID: "",
      DOPPEL_SECRET_ACCESS_KEY: "",
    });
    expect(await verifyPackage(out)).toEqual({ ok: true, problems: [] });
  }, 180_000);

  it("fails bad clips in AUTO_VERIFY_FAILED, each with reasons a person can act on", async () => {
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      ["no face", clips.noFace, undefined, /show exactly one face \(\d+ showed no face\)/],
      ["two people", clips.twoPeople, undefined, /showed more than one/],
      ["too short", clips.tooShort, undefined, /seconds long; it must be 2 seconds to/],
      ["no audio", clips.noAudio, undefined, /no sound track/],
      ["corrupt", clips.corrupt, undefined, /cannot be read/],
      ["someone else's consent", clips.personA, clips.personBConsent, /not the person in the training video/],
    ];
    // Which reason a clip gets is the verify stage's, the same on either database (and each is unit
    // tested): on PostgreSQL one face check and one probe failure show the failure is recorded with its
    // reasons, without spending the 2-core machine's CPU on face detection for every clip twice.
    const run =
      engine === "sqlite" ? cases : cases.filter(([name]) => name === "no face" || name === "corrupt");
    const jobs = [];
    for (const [, clip, consent] of run) jobs.push(await submitClip(clip, consent));
    for (const [i, [name, , , reason]] of run.entries()) {
      const job = await settle(jobs[i] as string, final);
      expect(job.state, name).toBe("AUTO_VERIFY_FAILED");
      const log = job.operation_logs.at(-1);
      expect(log.operate_user, name).toBe("SYSTEM");
      expect(log.error_code, name).toMatch(/^DOPPEL\./);
      expect(log.redo_reasons.join(" | "), name).toMatch(reason);
    }
  }, 180_000);

  it("trains an ICE job named by a media id, seen through GetAvatarTrainingJob and GetAvatar", async () => {
    const media = (await iceCall<Body>(ice, "CreateUploadMedia", { MediaType: "video" })).body.Data;
    expect(
      (await fetch(media.UploadURL, { method: "PUT", body: await readFile(clips.personA) })).status,
    ).toBe(200);
    const jobId = (
      await iceCall<Body>(ice, "CreateAvatarTrainingJob", { AvatarName: "Ice E2E", Video: media.MediaId })
    ).body.Data.JobId;
    await iceCall<Body>(ice, "SubmitAvatarTrainingJob", { JobId: jobId });
    const deadline = Date.now() + 150_000;
    let job: Body;
    do {
      await new Promise((r) => setTimeout(r, 250));
      job = (await iceCall<Body>(ice, "GetAvatarTrainingJob", { JobId: jobId })).body.Data.AvatarTrainingJob;
    } while (!["Success", "Fail"].includes(job.Status) && Date.now() < deadline);
    expect(job).toMatchObject({ Status: "Success", AvatarId: assetIdOf(jobId) });
    expect(job.FirstTrainingTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(job.LastTrainingTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // No Thumbnail was given: it is the job's cover, a JPEG.
    const thumbnail = Buffer.from(await (await fetch(job.Thumbnail)).arrayBuffer());
    expect(thumbnail.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    const avatar = (await iceCall<Body>(ice, "GetAvatar", { AvatarId: job.AvatarId })).body.Data.Avatar;
    expect(avatar).toMatchObject({ AvatarId: job.AvatarId, AvatarName: "Ice E2E" });
    expect((await fetch(avatar.Thumbnail)).status).toBe(200);
    expect([avatar.Width, avatar.Height].every((n: number) => n > 0)).toBe(true);
  }, 180_000);
});
