/**
 * The ICE avatar-training lifecycle through the real `@alicloud/openapi-client` (`callApi`, RPC style,
 * as `@alicloud/ice20201109` calls it), on both databases and with both signing algorithms:
 * CreateUploadMedia → PUT the file → CreateAvatarTrainingJob with it as Video → Get → Submit → Get,
 * the same job seen by MetaStudio, Update/Delete in and out of Init, idempotent creates, GetAvatar and
 * ListAvatars over seeded avatars, and bad parameters answered in Alibaba's envelope.
 */

import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DoppelError } from "../../src/domain/errors.js";
import { mediaUploadPath, receiveMediaUpload } from "../../src/services/media.service.js";
import { ENGINES } from "../support/databases.js";
import {
  credentialsOf,
  type IceClient,
  type IceSdkError,
  type IceSigning,
  iceCall,
  iceClient,
  iceError,
} from "../support/sdk-clients.js";
import { jobsUrl, startTestServer, type TestServer } from "../support/server.js";

/** The start of an ISO-BMFF (MP4) file: enough for magic-byte detection to call it video/mp4. */
const MP4_HEAD = Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex");
/** A whole 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);
const SIGNINGS: readonly IceSigning[] = ["v3", "v2"];
const ERROR_KEYS = ["Code", "HostId", "Message", "Recommend", "RequestId"];
const JOB_KEYS = [
  "AvatarDescription",
  "AvatarId",
  "AvatarName",
  "AvatarType",
  "FirstTrainingTime",
  "JobId",
  "LastTrainingTime",
  "Message",
  "Portrait",
  "Status",
  "Thumbnail",
  "Transparent",
  "Video",
];
const AVATAR_KEYS = [
  "AvatarDescription",
  "AvatarId",
  "AvatarName",
  "AvatarType",
  "Portrait",
  "Thumbnail",
  "Transparent",
];
const HEX32 = /^[0-9a-f]{32}$/;
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const video = (size = 2000) => Buffer.concat([MP4_HEAD, randomBytes(size)]);

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Body = any;
type Project = TestServer["projects"][number];
/** The route that serves media uploads (registered in src/http/uploads/routes.ts). */

/** The SDK error's body without the `statusCode` the SDK adds to it. */
function envelopeKeys(error: IceSdkError): string[] {
  return Object.keys(error.data ?? {})
    .filter((k) => k !== "statusCode")
    .sort();
}

describe.each(ENGINES)("ICE avatar-training lifecycle through @alicloud/openapi-client on %s", (engine) => {
  let s: TestServer;
  let a: Project;
  let b: Project;
  let fuzzProject: Project;

  beforeAll(async () => {
    s = await startTestServer(engine, [60, 20, 0]);
    [a, b, fuzzProject] = s.projects as [Project, Project, Project];
  });
  afterAll(async () => s?.close());

  const call = (client: IceClient, action: string, query: Record<string, unknown> = {}) =>
    iceCall<Body>(client, action, query);
  const metaStudio = async (project: Project, path: string, query = "") => {
    const res = await fetch(`${jobsUrl(s, project.id)}${path}${query ? `?${query}` : ""}`, {
      headers: { "X-Auth-Token": project.token },
    });
    return { status: res.status, body: (await res.json()) as Body };
  };

  /** PUTs a file to a media's signed UploadURL, as a customer's HTTP client would. */
  async function uploadFile(
    uploadUrl: string,
    bytes: Buffer,
  ): Promise<{ status: number; etag: string | null }> {
    const url = new URL(uploadUrl);
    expect(url.origin).toBe(s.baseUrl);
    const res = await fetch(url, { method: "PUT", body: bytes });
    return { status: res.status, etag: res.headers.get("etag") };
  }

  async function upload(
    client: IceClient,
    mediaType: "video" | "image" | "other",
    bytes: Buffer,
  ): Promise<string> {
    const res = await call(client, "CreateUploadMedia", { MediaType: mediaType, FileName: `f.${mediaType}` });
    const put = await uploadFile(res.body.Data.UploadURL, bytes);
    expect(put).toEqual({ status: 200, etag: `"${md5(bytes)}"` });
    return res.body.Data.MediaId;
  }

  async function createJob(client: IceClient, query: Record<string, unknown>): Promise<string> {
    const res = await call(client, "CreateAvatarTrainingJob", query);
    expect(Object.keys(res.body).sort()).toEqual(["Data", "RequestId", "Success"]);
    expect(Object.keys(res.body.Data)).toEqual(["JobId"]);
    expect(res.body.Data.JobId).toMatch(HEX32);
    return res.body.Data.JobId;
  }

  const getJob = async (client: IceClient, jobId: string) =>
    (await call(client, "GetAvatarTrainingJob", { JobId: jobId })).body.Data.AvatarTrainingJob;

  describe.each(SIGNINGS)("signed with %s", (signing) => {
    let client: IceClient;

    beforeAll(() => {
      client = iceClient(s, credentialsOf(a.key), signing);
    });

    it("CreateUploadMedia answers a 32-hex MediaId and a signed upload URL valid for 24 hours", async () => {
      const res = await call(client, "CreateUploadMedia", { MediaType: "video", FileName: "me.mp4" });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(["Data", "RequestId", "Success"]);
      expect(Object.keys(res.body.Data).sort()).toEqual(["MediaId", "UploadURL"]);
      const { MediaId, UploadURL } = res.body.Data;
      expect(MediaId).toMatch(HEX32);
      const url = new URL(UploadURL, s.baseUrl);
      if (/^https?:/.test(UploadURL)) expect(url.origin).toBe(new URL(s.baseUrl).origin);
      expect(url.pathname).toBe(mediaUploadPath(MediaId));
      expect(url.searchParams.get("signature")).toMatch(/^[0-9a-f]{64}$/);
      const expires = Number(url.searchParams.get("expires")) * 1000;
      expect(Math.abs(expires - (s.t.clock.now + 24 * 3600_000))).toBeLessThan(2000);
    });

    it("goes CreateUploadMedia → PUT → Create with Video → Init → Submit → Queuing, seen by MetaStudio, and refuses Delete and Update once queued", async () => {
      const bytes = video(50_000);
      const videoId = await upload(client, "video", bytes);
      const portraitId = await upload(client, "image", PNG);
      const name = `Lin ${signing} ${randomBytes(3).toString("hex")}`;
      const jobId = await createJob(client, {
        AvatarName: name,
        AvatarDescription: "Presenter for the news",
        AvatarType: "2DAvatar",
        Video: videoId,
        Portrait: portraitId,
        Thumbnail: "https://bucket.example.com/thumb.png",
        Transparent: true,
      });

      const init = await getJob(client, jobId);
      expect(Object.keys(init).sort()).toEqual(JOB_KEYS);
      expect(init).toEqual({
        JobId: jobId,
        AvatarId: "",
        AvatarName: name,
        AvatarDescription: "Presenter for the news",
        AvatarType: "2DAvatar",
        Status: "Init",
        Message: "",
        Thumbnail: "https://bucket.example.com/thumb.png",
        Portrait: portraitId,
        Video: videoId,
        Transparent: true,
        FirstTrainingTime: "",
        LastTrainingTime: "",
      });
      // The list shows the same portrait.
      const initList = (await call(client, "ListAvatarTrainingJobs", { PageSize: 100, Status: "Init" })).body
        .Data.AvatarTrainingJobList as Array<{ JobId: string; Portrait: string }>;
      expect(initList.find((j) => j.JobId === jobId)?.Portrait).toBe(portraitId);
      // The job has its own copy of the video, byte for byte.
      const copies = await s.t.runtime.blobs.list(`jobs/${jobId}/`);
      expect(copies).toHaveLength(1);
      expect(copies[0]?.etag).toBe(md5(bytes));

      // No likeness without consent: the submit is refused, saying how to give it.
      const unconsented = await iceError(call(client, "SubmitAvatarTrainingJob", { JobId: jobId }));
      expect([unconsented.code, unconsented.statusCode]).toEqual(["InvalidParameter.File", 400]);
      expect(envelopeKeys(unconsented)).toEqual(ERROR_KEYS);
      expect(String(unconsented.data?.Message)).toMatch(/no consent.*ConsentMedia/);
      // A signed letter as a PDF (MediaType other) is the job's consent.
      const letter = Buffer.from("%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n");
      const consentId = await upload(client, "other", letter);
      await call(client, "UpdateAvatarTrainingJob", { JobId: jobId, ConsentMedia: consentId });
      const submitted = await call(client, "SubmitAvatarTrainingJob", { JobId: jobId });
      expect(submitted.body.Data).toEqual({ JobId: jobId });
      expect((await getJob(client, jobId)).Status).toBe("Queuing");
      const consent = (await metaStudio(a, `/${jobId}`)).body.grant_file_download_url;
      expect(sha256(Buffer.from(await (await fetch(consent)).arrayBuffer()))).toBe(sha256(letter));

      const listed = await metaStudio(a, "", `job_id=${jobId}`);
      expect(listed.status).toBe(200);
      expect(listed.body.count).toBe(1);
      expect(listed.body.jobs[0]).toMatchObject({ job_id: jobId, name, state: "AUTO_VERIFYING" });
      const shown = await metaStudio(a, `/${jobId}`);
      expect(shown.body.operation_logs.map((l: { log_type: string }) => l.log_type)).toEqual([
        "CREATE_JOB",
        "UPLOAD_FILE",
        "UPLOAD_FILE",
        "UPDATE_JOB",
        "SUBMITVERIFYING",
      ]);

      const deleted = await iceError(call(client, "DeleteAvatarTrainingJob", { JobId: jobId }));
      expect([deleted.code, deleted.statusCode]).toEqual(["OperationDenied.JobStatus", 409]);
      expect(envelopeKeys(deleted)).toEqual(ERROR_KEYS);
      expect(String(deleted.data?.Message)).toMatch(/is Queuing .*Init or Fail/);
      const updated = await iceError(
        call(client, "UpdateAvatarTrainingJob", { JobId: jobId, AvatarName: "X" }),
      );
      expect([updated.code, updated.statusCode]).toEqual(["OperationDenied.JobStatus", 409]);
      expect(String(updated.data?.Message)).toContain("Queuing");
      const again = await iceError(call(client, "SubmitAvatarTrainingJob", { JobId: jobId }));
      expect([again.code, again.statusCode]).toEqual(["OperationDenied.JobStatus", 409]);
      expect((await getJob(client, jobId)).AvatarName).toBe(name);
    });

    it("creates one job per ClientToken, also when two creates with it run at once", async () => {
      const videoId = await upload(client, "video", video());
      const name = `Token ${signing} ${randomBytes(3).toString("hex")}`;
      const token = randomBytes(8).toString("hex");
      const first = await createJob(client, { AvatarName: name, Video: videoId, ClientToken: token });
      const second = await createJob(client, { AvatarName: name, Video: videoId, ClientToken: token });
      expect(second).toBe(first);

      const racing = randomBytes(8).toString("hex");
      const both = await Promise.all([
        createJob(client, { AvatarName: name, Video: videoId, ClientToken: racing }),
        createJob(client, { AvatarName: name, Video: videoId, ClientToken: racing }),
      ]);
      expect(both[0]).toBe(both[1]);
      expect(both[0]).not.toBe(first);

      const listed = await metaStudio(a, "", `name=${encodeURIComponent(name)}&limit=10`);
      expect(listed.body.count).toBe(2);
      for (const jobId of [first, both[0]]) {
        // The video was attached once, whoever got there first.
        const logs = (await metaStudio(a, `/${jobId}`)).body.operation_logs.map(
          (l: { log_type: string }) => l.log_type,
        );
        expect(logs).toEqual(["CREATE_JOB", "UPLOAD_FILE"]);
        expect(await s.t.runtime.blobs.list(`jobs/${jobId}/`)).toHaveLength(1);
      }
    });

    it("updates a job in Init (name, description, video, flags) and keeps only the new video", async () => {
      const jobId = await createJob(client, {
        AvatarName: "Draft",
        Video: await upload(client, "video", video()),
      });
      const noVideo = await createJob(client, { AvatarName: "Empty" });
      const early = await iceError(call(client, "SubmitAvatarTrainingJob", { JobId: noVideo }));
      expect([early.code, early.statusCode]).toEqual(["InvalidParameter.File", 400]);
      expect(String(early.data?.Message)).toMatch(/no training video.*Video/);

      const bytes = video(3000);
      const newVideo = await upload(client, "video", bytes);
      const res = await call(client, "UpdateAvatarTrainingJob", {
        JobId: jobId,
        AvatarName: "Final",
        AvatarDescription: "now with a description",
        Video: newVideo,
        Transparent: false,
        Thumbnail: "http://example.com/t.jpg",
      });
      expect(res.body.Data).toEqual({ JobId: jobId });
      expect(await getJob(client, jobId)).toMatchObject({
        AvatarName: "Final",
        AvatarDescription: "now with a description",
        Video: newVideo,
        Transparent: false,
        Thumbnail: "http://example.com/t.jpg",
        Status: "Init",
      });
      const copies = await s.t.runtime.blobs.list(`jobs/${jobId}/`);
      expect(copies.map((c) => c.etag)).toEqual([md5(bytes)]);

      // Fields not sent stay; an empty Thumbnail clears it.
      await call(client, "UpdateAvatarTrainingJob", { JobId: jobId, Thumbnail: "" });
      expect(await getJob(client, jobId)).toMatchObject({
        AvatarName: "Final",
        Thumbnail: "",
        Video: newVideo,
      });

      await call(client, "UpdateAvatarTrainingJob", {
        JobId: jobId,
        ConsentMedia: await upload(client, "video", video()),
      });
      await call(client, "SubmitAvatarTrainingJob", { JobId: jobId });
      const late = await iceError(call(client, "UpdateAvatarTrainingJob", { JobId: jobId, Video: newVideo }));
      expect([late.code, late.statusCode]).toEqual(["OperationDenied.JobStatus", 409]);
      expect(String(late.data?.Message)).toMatch(/Queuing/);
    });

    it("deletes a job in Init with its copy of the video, and leaves the media", async () => {
      const videoId = await upload(client, "video", video());
      const jobId = await createJob(client, { AvatarName: "Gone", Video: videoId });
      expect(await s.t.runtime.blobs.list(`jobs/${jobId}/`)).toHaveLength(1);
      const res = await call(client, "DeleteAvatarTrainingJob", { JobId: jobId });
      expect(res.body.Data).toEqual({ JobId: jobId });
      expect(await s.t.runtime.blobs.list(`jobs/${jobId}/`)).toEqual([]);
      expect(await s.t.runtime.blobs.list(`media/${videoId}/`)).toHaveLength(1);
      const gone = await iceError(call(client, "GetAvatarTrainingJob", { JobId: jobId }));
      expect([gone.code, gone.statusCode]).toEqual(["InvalidParameter.JobNotFound", 404]);
      // The media can train another job.
      const next = await createJob(client, {
        AvatarName: "Again",
        Video: videoId,
        ConsentMedia: await upload(client, "image", PNG),
      });
      expect((await call(client, "SubmitAvatarTrainingJob", { JobId: next })).status).toBe(200);
    });

    it("GetAvatar and ListAvatars show the project's trained avatars with their frame size", async () => {
      const seeded: Array<{ asset_id?: string; model_resolution: string; name: string }> = [];
      for (let offset = 0; offset < a.jobs; offset += 100) {
        seeded.push(...(await metaStudio(a, "", `offset=${offset}&limit=100`)).body.jobs);
      }
      const avatars = seeded.filter((j) => j.asset_id !== undefined);
      expect(avatars.length).toBeGreaterThan(0);

      const all = await call(client, "ListAvatars", { PageSize: 100 });
      expect(Object.keys(all.body.Data).sort()).toEqual(["AvatarList", "TotalCount"]);
      expect(all.body.Data.TotalCount).toBe(avatars.length);
      expect(new Set(all.body.Data.AvatarList.map((i: Body) => i.AvatarId))).toEqual(
        new Set(avatars.map((j) => j.asset_id)),
      );
      for (const item of all.body.Data.AvatarList) {
        expect(Object.keys(item).sort()).toEqual(AVATAR_KEYS);
        expect(item.AvatarType).toBe("2DAvatar");
        expect(item.Transparent).toBe(false);
      }
      const page1 = await call(client, "ListAvatars", { PageNo: 1, PageSize: 3, AvatarType: "2DAvatar" });
      const page2 = await call(client, "ListAvatars", { PageNo: 2, PageSize: 3 });
      expect([...page1.body.Data.AvatarList, ...page2.body.Data.AvatarList]).toEqual(
        all.body.Data.AvatarList.slice(0, 6),
      );

      for (const job of avatars.slice(0, 4)) {
        const res = await call(client, "GetAvatar", { AvatarId: job.asset_id });
        const size = job.model_resolution === "4K" ? [3840, 2160] : [1920, 1080];
        expect(res.body.Data.Avatar).toMatchObject({
          AvatarId: job.asset_id,
          AvatarName: job.name,
          AvatarType: "2DAvatar",
          Width: size[0],
          Height: size[1],
        });
        expect(Object.keys(res.body.Data.Avatar).sort()).toEqual([...AVATAR_KEYS, "Height", "Width"].sort());
      }

      const other = (await metaStudio(b, "", "limit=100")).body.jobs.find(
        (j: { asset_id?: string }) => j.asset_id !== undefined,
      );
      for (const avatarId of [other?.asset_id, "0".repeat(32), "Avatar-XXXX"]) {
        const error = await iceError(call(client, "GetAvatar", { AvatarId: avatarId }));
        expect([error.code, error.statusCode], avatarId).toEqual(["InvalidParameter.JobNotFound", 404]);
        expect(String(error.data?.Message)).toMatch(/No avatar/);
      }
    });

    it("answers bad parameters with Alibaba's envelope naming the parameter", async () => {
      const cases: Array<[string, Record<string, unknown>, string, number, RegExp]> = [
        ["CreateAvatarTrainingJob", {}, "MissingParameter", 400, /AvatarName/],
        ["CreateAvatarTrainingJob", { AvatarName: "" }, "MissingParameter", 400, /AvatarName/],
        ["CreateAvatarTrainingJob", { AvatarName: "   " }, "InvalidParameter", 400, /AvatarName/],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "x".repeat(65) },
          "InvalidParameter",
          400,
          /AvatarName.*64/,
        ],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "A", AvatarDescription: "d".repeat(1001) },
          "InvalidParameter",
          400,
          /AvatarDescription/,
        ],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "A", Video: "f".repeat(32) },
          "InvalidParameter",
          400,
          /Video.*no media/,
        ],
        ["CreateAvatarTrainingJob", { AvatarName: "A", Video: "nope" }, "InvalidParameter", 400, /Video/],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "A", AvatarType: "3DAvatar" },
          "InvalidParameter",
          400,
          /AvatarType/,
        ],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "A", Transparent: "maybe" },
          "InvalidParameter",
          400,
          /Transparent/,
        ],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "A", Thumbnail: "ftp://x/y" },
          "InvalidParameter",
          400,
          /Thumbnail/,
        ],
        [
          "CreateAvatarTrainingJob",
          { AvatarName: "A", ClientToken: "a b" },
          "InvalidParameter",
          400,
          /ClientToken/,
        ],
        ["CreateUploadMedia", {}, "MissingParameter", 400, /MediaType/],
        ["CreateUploadMedia", { MediaType: "audio" }, "InvalidParameter", 400, /MediaType/],
        ["GetAvatarTrainingJob", {}, "MissingParameter", 400, /JobId/],
        ["GetAvatarTrainingJob", { JobId: "f".repeat(32) }, "InvalidParameter.JobNotFound", 404, /No job/],
        ["SubmitAvatarTrainingJob", { JobId: "x" }, "InvalidParameter.JobNotFound", 404, /No job/],
        ["DeleteAvatarTrainingJob", {}, "MissingParameter", 400, /JobId/],
        ["UpdateAvatarTrainingJob", { AvatarName: "A" }, "MissingParameter", 400, /JobId/],
        ["GetAvatar", {}, "MissingParameter", 400, /AvatarId/],
        ["ListAvatars", { PageSize: 0 }, "InvalidParameter", 400, /PageSize/],
        ["ListAvatars", { PageSize: 101 }, "InvalidParameter", 400, /PageSize/],
        ["ListAvatars", { PageNo: "1.5" }, "InvalidParameter", 400, /PageNo/],
        ["ListAvatars", { AvatarType: "3DAvatar" }, "InvalidParameter", 400, /AvatarType/],
      ];
      for (const [actionName, query, code, status, message] of cases) {
        const context = `${actionName} ${JSON.stringify(query)}`;
        const error = await iceError(call(client, actionName, query));
        expect([error.code, error.statusCode], context).toEqual([code, status]);
        expect(envelopeKeys(error), context).toEqual(ERROR_KEYS);
        expect(String(error.data?.Message), context).toMatch(message);
      }

      // Media that is not a READY video of this project is not a Video.
      const image = await upload(client, "image", PNG);
      const pending = (await call(client, "CreateUploadMedia", { MediaType: "video" })).body.Data.MediaId;
      const foreign = await upload(iceClient(s, credentialsOf(b.key), signing), "video", video());
      for (const [videoId, why] of [
        [image, /is of type image; Video takes video media/],
        [pending, /has no file yet/],
        [foreign, /no media/],
      ] as const) {
        const error = await iceError(
          call(client, "CreateAvatarTrainingJob", { AvatarName: "A", Video: videoId }),
        );
        expect([error.code, error.statusCode]).toEqual(["InvalidParameter", 400]);
        expect(String(error.data?.Message)).toMatch(why);
      }
      const portrait = await iceError(
        call(client, "CreateAvatarTrainingJob", { AvatarName: "A", Portrait: foreign }),
      );
      expect([portrait.code, String(portrait.data?.Message)]).toEqual([
        "InvalidParameter",
        expect.stringMatching(/Portrait/),
      ]);
      // A consent must be a video, an image the grant file takes (JPEG, PNG) or a PDF.
      const webp = await upload(client, "image", Buffer.from("RIFF\x24\x00\x00\x00WEBPVP8 ", "latin1"));
      for (const [consentId, why] of [
        ["nope", /ConsentMedia: no media/],
        [
          webp,
          /ConsentMedia: media \w+ is image\/webp; a consent is a video, or a letter as application\/pdf, image\/jpeg, image\/png/,
        ],
        [pending, /ConsentMedia: media \w+ has no file yet/],
      ] as const) {
        const error = await iceError(
          call(client, "CreateAvatarTrainingJob", { AvatarName: "A", ConsentMedia: consentId }),
        );
        expect([error.code, error.statusCode, String(error.data?.Message)]).toEqual([
          "InvalidParameter",
          400,
          expect.stringMatching(why),
        ]);
      }
    });
  });

  it("stops naming the media as Video once MetaStudio parts replaced the job's training video", async () => {
    const client = iceClient(s, credentialsOf(a.key), "v3");
    const videoId = await upload(client, "video", video());
    const jobId = await createJob(client, { AvatarName: "Replaced", Video: videoId });
    expect((await getJob(client, jobId)).Video).toBe(videoId);
    // Only a job whose check failed gives out MetaStudio upload URLs again (Update).
    const { findVersionedJob, updateJobState } = await import("../../src/store/job.repository.js");
    const current = await findVersionedJob(s.t.runtime.database.db, a.id, jobId);
    await updateJobState(s.t.runtime.database.db, jobId, current?.version ?? 0, {
      state: "AUTO_VERIFY_FAILED",
      updateTime: s.t.clock.now,
    });
    const ms = (method: string, path: string, body?: unknown) =>
      fetch(`${jobsUrl(s, a.id)}/${jobId}${path}`, {
        method,
        headers: { "X-Auth-Token": a.token, "Content-Type": "application/json" },
        body: JSON.stringify(body ?? {}),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Body }));
    const urls = (await ms("PUT", "", { video_multipart_count: 1 })).body;
    expect((await fetch(urls.training_video_upload_url[0], { method: "PUT", body: video() })).status).toBe(
      200,
    );
    expect((await ms("POST", "/command", { command: "CONFIRM_MULTIPART_UPLOADED" })).status).toBe(200);
    expect((await getJob(client, jobId)).Video).toBe("");
  });

  it("accepts only the kind of file a media is for, and never changes a media's file", async () => {
    const client = iceClient(s, credentialsOf(a.key), "v3");
    const created = (await call(client, "CreateUploadMedia", { MediaType: "video" })).body.Data;
    const mediaId: string = created.MediaId;
    const refusal = async (bytes: Buffer) => {
      try {
        await receiveMediaUpload(s.t.runtime, mediaId, Readable.from([bytes]));
      } catch (error) {
        return error instanceof DoppelError ? error.code : String(error);
      }
      return "accepted";
    };
    expect(await refusal(PNG)).toBe("INVALID_FILE");
    expect(await refusal(randomBytes(100))).toBe("INVALID_FILE");
    const bytes = video();
    expect(await refusal(bytes)).toBe("accepted");
    expect(await refusal(bytes)).toBe("accepted");
    expect(await refusal(video())).toBe("INVALID_STATE");
    const image = (await call(client, "CreateUploadMedia", { MediaType: "image" })).body.Data.MediaId;
    const stored = await receiveMediaUpload(s.t.runtime, image, Readable.from([PNG]));
    expect(stored.sha256).toBe(sha256(PNG));
    expect((await s.t.runtime.blobs.list(`media/${mediaId}/`)).map((blob) => blob.etag)).toEqual([
      md5(bytes),
    ]);
  });

  it("serves the media PUT at the signed URL only, checking the file's kind", async () => {
    const client = iceClient(s, credentialsOf(a.key), "v2");
    const { MediaId, UploadURL } = (await call(client, "CreateUploadMedia", { MediaType: "video" })).body
      .Data;
    const url = new URL(UploadURL, s.baseUrl);
    const put = (target: URL | string, body: Buffer) => fetch(target, { method: "PUT", body });
    expect((await put(url, PNG)).status).toBe(400);
    const tampered = new URL(url);
    tampered.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 60));
    expect((await put(tampered, video())).status).toBe(403);
    const otherMedia = new URL(url.toString().replace(MediaId, "0".repeat(32)));
    expect((await put(otherMedia, video())).status).toBe(403);
    const bytes = video();
    const ok = await put(url, bytes);
    expect([ok.status, ok.headers.get("etag")]).toEqual([200, `"${md5(bytes)}"`]);
    // Retrying the same bytes answers like the first upload; other bytes are refused.
    const retry = await put(url, bytes);
    expect([retry.status, retry.headers.get("etag")]).toEqual([200, `"${md5(bytes)}"`]);
    expect((await put(url, video())).status).toBe(409);
  });

  it("never answers random names, descriptions, ids or URLs with a 5xx", async () => {
    const clients = {
      v3: iceClient(s, credentialsOf(fuzzProject.key), "v3"),
      v2: iceClient(s, credentialsOf(fuzzProject.key), "v2"),
    };
    const text = fc.oneof(
      fc.constantFrom("", " ", "\u0000", "\t", "雪花 ❄", "%", "a&b=c", "\u202e", "null", "f".repeat(32)),
      fc.string({ maxLength: 80 }),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 40 }).filter((v) => v.isWellFormed()),
      fc.string({ minLength: 60, maxLength: 1100 }),
    );
    const request = fc.oneof(
      fc.record(
        {
          action: fc.constant("CreateAvatarTrainingJob"),
          AvatarName: text,
          AvatarDescription: text,
          Video: text,
          Portrait: text,
          Thumbnail: text,
          ClientToken: text,
        },
        { requiredKeys: ["action", "AvatarName", "AvatarDescription"] },
      ),
      fc.record({ action: fc.constant("CreateUploadMedia"), MediaType: text, FileName: text }),
      fc.record({
        action: fc.constantFrom(
          "GetAvatarTrainingJob",
          "SubmitAvatarTrainingJob",
          "DeleteAvatarTrainingJob",
          "UpdateAvatarTrainingJob",
        ),
        JobId: text,
        AvatarName: text,
      }),
      fc.record({ action: fc.constant("GetAvatar"), AvatarId: text }),
    );
    await fc.assert(
      fc.asyncProperty(
        request,
        fc.constantFrom("v3", "v2") as fc.Arbitrary<"v3" | "v2">,
        async (r, signing) => {
          const { action, ...query } = r;
          try {
            const res = await call(clients[signing], action, query);
            expect(res.status).toBe(200);
          } catch (caught) {
            const error = caught as IceSdkError;
            const context = `${action} ${JSON.stringify(query).slice(0, 200)} → ${error.message}`;
            expect(error.statusCode, context).toBeGreaterThanOrEqual(400);
            expect(error.statusCode, context).toBeLessThan(500);
            expect(envelopeKeys(error), context).toEqual(ERROR_KEYS);
          }
        },
      ),
      { numRuns: 120 },
    );
  });
});
