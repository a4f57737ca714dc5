/**
 * One rule per user action, whichever dialect asks (src/domain/job-rules.ts), over real HTTP on both
 * databases:
 * - submitting a job the pipeline has moved past its checks (TRAIN_FAILED) is refused for its state by
 *   ICE's SubmitAvatarTrainingJob and MetaStudio's SUBMITVERIFYING alike, before any file is looked at;
 * - ICE may edit a failed job's name, but not swap the video it was checked on;
 * - an ICE create is one transaction with its media copies: concurrent creates with one ClientToken leave
 *   one job, and no copy of the video under any other job id.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findVersionedJob, updateJobState } from "../../src/store/job.repository.js";
import { listJobFiles } from "../../src/store/job-file.repository.js";
import { MP4_HEAD } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { credentialsOf, type IceClient, iceCall, iceClient, iceError } from "../support/sdk-clients.js";
import { startTestServer, type TestServer, tokenApi } from "../support/server.js";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
const video = () => Buffer.concat([MP4_HEAD, randomBytes(2000)]);
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe.each(ENGINES)("job state rules on %s", (engine) => {
  let s: TestServer;
  let project: TestServer["projects"][number];
  let ice: IceClient;

  beforeAll(async () => {
    s = await startTestServer(engine, [0], { DOPPEL_CONSENT: "optional" });
    [project] = s.projects as [typeof project];
    ice = iceClient(s, credentialsOf(project.key), "v3");
  });
  afterAll(() => s?.close());

  const metaStudio = (method: string, path: string, body?: unknown) =>
    tokenApi(s, project)<Body>(method, path, body);

  async function uploadVideo(bytes: Buffer): Promise<string> {
    const media = (await iceCall<Body>(ice, "CreateUploadMedia", { MediaType: "video" })).body.Data;
    expect((await fetch(media.UploadURL, { method: "PUT", body: bytes })).status).toBe(200);
    return media.MediaId;
  }

  async function createJob(params: Record<string, string>): Promise<string> {
    return (await iceCall<Body>(ice, "CreateAvatarTrainingJob", params)).body.Data.JobId;
  }

  /** Puts a job where the pipeline would leave it, as a worker's transition would. */
  async function moveTo(jobId: string, state: "TRAIN_FAILED"): Promise<void> {
    const db = s.t.runtime.database.db;
    const current = await findVersionedJob(db, project.id, jobId);
    expect(await updateJobState(db, jobId, current?.version ?? -1, { state, updateTime: Date.now() })).toBe(
      true,
    );
  }

  it.each([
    ["with its training video", true],
    ["without a training video", false],
  ])("refuses to submit a TRAIN_FAILED job %s for its state, in both dialects", async (_, withVideo) => {
    const jobId = await createJob({
      AvatarName: "Trained once",
      ...(withVideo && { Video: await uploadVideo(video()) }),
    });
    await moveTo(jobId, "TRAIN_FAILED");

    const viaIce = await iceError(iceCall(ice, "SubmitAvatarTrainingJob", { JobId: jobId }));
    expect([viaIce.code, viaIce.statusCode]).toEqual(["OperationDenied.JobStatus", 409]);
    expect(String(viaIce.data?.Message)).toContain("state TRAIN_FAILED");

    const viaMetaStudio = await metaStudio("POST", `/${jobId}/command`, { command: "SUBMITVERIFYING" });
    expect([viaMetaStudio.status, viaMetaStudio.body.error_code]).toEqual([409, "MSS.10002002"]);
    expect(viaMetaStudio.body.error_msg).toContain("state TRAIN_FAILED");
    expect((await metaStudio("GET", `/${jobId}`)).body.state).toBe("TRAIN_FAILED");
  });

  it("lets ICE rename a failed job but not swap the video it was checked on", async () => {
    const checked = video();
    const jobId = await createJob({ AvatarName: "Checked", Video: await uploadVideo(checked) });
    await moveTo(jobId, "TRAIN_FAILED");

    const swap = await iceError(
      iceCall(ice, "UpdateAvatarTrainingJob", { JobId: jobId, Video: await uploadVideo(video()) }),
    );
    expect([swap.code, swap.statusCode]).toEqual(["OperationDenied.JobStatus", 409]);
    const files = await listJobFiles(s.t.runtime.database.db, jobId);
    expect(files.find((f) => f.slot === "training-video")?.sha256).toBe(sha256(checked));

    await iceCall(ice, "UpdateAvatarTrainingJob", { JobId: jobId, AvatarName: "Renamed" });
    expect((await metaStudio("GET", `/${jobId}`)).body.name).toBe("Renamed");
  });

  it("creates a job and its video in one go: racing creates with one token leave one job and one copy", async () => {
    const mediaId = await uploadVideo(video());
    const token = randomBytes(8).toString("hex");
    const ids = await Promise.all(
      Array.from({ length: 6 }, () => createJob({ AvatarName: "Once", Video: mediaId, ClientToken: token })),
    );
    expect(new Set(ids).size).toBe(1);
    const [jobId] = ids as [string];
    const files = await listJobFiles(s.t.runtime.database.db, jobId);
    expect(files.map((f) => f.slot)).toEqual(["training-video"]);

    // Every copy of this media under jobs/ belongs to the one job, and that job keeps exactly one.
    const copies = (await s.t.runtime.blobs.list("jobs/")).filter((blob) =>
      blob.key.includes(`/training-video/media/${mediaId}/`),
    );
    expect(copies.map((blob) => blob.key)).toEqual([files[0]?.blobKey]);
  });
});
