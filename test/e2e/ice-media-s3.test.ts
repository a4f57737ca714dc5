/**
 * ICE media with the S3 blob store: CreateUploadMedia hands out S3's own presigned PUT URL, the file
 * goes straight to the bucket, and Doppel checks it the first time a job names the media (see
 * src/services/direct-uploads.ts). Through the real `@alicloud/openapi-client`, on both databases.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MP4_HEAD } from "../support/clips.js";
import { ENGINES } from "../support/databases.js";
import { startS3Server, type TestS3Server } from "../support/s3-server.js";
import { credentialsOf, type IceClient, iceCall, iceClient, iceError } from "../support/sdk-clients.js";
import { startTestServer, type TestServer } from "../support/server.js";

const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Body = any;

describe.each(ENGINES)("ICE media uploaded straight to S3 on %s", (engine) => {
  let s3: TestS3Server;
  let s: TestServer;
  let client: IceClient;

  beforeAll(async () => {
    s3 = await startS3Server();
    s = await startTestServer(engine, [0], {
      DOPPEL_MAX_UPLOAD_MB: "1",
      ...s3.doppelEnv(),
    });
    client = iceClient(s, credentialsOf((s.projects[0] as TestServer["projects"][number]).key), "v3");
  });
  afterAll(async () => {
    await s?.close();
    await s3?.close();
  });

  const call = (action: string, query: Record<string, unknown>) => iceCall<Body>(client, action, query);
  async function upload(mediaType: "video" | "image", bytes: Buffer): Promise<string> {
    const { MediaId, UploadURL } = (await call("CreateUploadMedia", { MediaType: mediaType })).body.Data;
    expect(new URL(UploadURL).origin).toBe(new URL(s3.endpoint).origin);
    expect((await fetch(UploadURL, { method: "PUT", body: bytes })).status).toBe(200);
    return MediaId;
  }

  it("makes a checked copy of the video the job's training video when the job names it", async () => {
    const bytes = Buffer.concat([MP4_HEAD, randomBytes(20_000)]);
    const videoId = await upload("video", bytes);
    const created = await call("CreateAvatarTrainingJob", { AvatarName: "Direct", Video: videoId });
    const jobId = created.body.Data.JobId as string;
    const files = await s.t.runtime.blobs.list(`jobs/${jobId}/training-video/`);
    expect(files).toHaveLength(1);
    const copy = await s.t.runtime.blobs.get((files[0] as { key: string }).key);
    const chunks: Buffer[] = [];
    for await (const chunk of copy) chunks.push(chunk as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(bytes));
    const job = (await call("GetAvatarTrainingJob", { JobId: jobId })).body.Data.AvatarTrainingJob;
    expect(job).toMatchObject({ JobId: jobId, Status: "Init", Video: videoId });
  });

  it("refuses a media whose file is of the wrong kind or too large, saying so", async () => {
    const png = await upload("video", PNG);
    const wrongKind = await iceError(call("CreateAvatarTrainingJob", { AvatarName: "Png", Video: png }));
    expect(wrongKind.statusCode).toBe(400);
    expect(wrongKind.message).toMatch(/Video.*was refused: .*image\/png; accepted: video\/mp4/);

    const big = await upload("video", Buffer.concat([MP4_HEAD, randomBytes(1024 * 1024)]));
    const tooLarge = await iceError(call("CreateAvatarTrainingJob", { AvatarName: "Big", Video: big }));
    expect(tooLarge.statusCode).toBe(400);
    expect(tooLarge.message).toMatch(/larger than the limit of 1048576 bytes/);

    const missing = (await call("CreateUploadMedia", { MediaType: "image" })).body.Data.MediaId;
    const none = await iceError(call("CreateAvatarTrainingJob", { AvatarName: "None", Portrait: missing }));
    expect(none.message).toMatch(/has no file yet/);
  });
});
